// Command kfake runs franz-go's in-process Kafka (kfake, the real wire protocol) as a
// small standalone broker for the local stack. It keeps everything in memory.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
)

func main() {
	port := flag.Int("port", 19092, "port to listen on, on 127.0.0.1")
	partitions := flag.Int("partitions", 6, "partitions of auto-created topics")
	flag.Parse()
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil)).With("service", "kfake")
	c, err := kfake.NewCluster(
		kfake.Ports(*port),
		kfake.DefaultNumPartitions(*partitions),
	)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kfake:", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log.Info("kafka listening", "addrs", c.ListenAddrs())
	<-ctx.Done()
	c.Close()
}
