package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tributary-sec/tributary/internal/model"
	"github.com/tributary-sec/tributary/internal/stack"
)

// progress records when a service's counter first and last moved during the run.
type progress struct {
	mu           sync.Mutex
	first, last  time.Time
	value        float64
	metric, addr string
}

func (p *progress) poll(ctx context.Context) {
	client := http.Client{Timeout: time.Second}
	for ctx.Err() == nil {
		if v, err := scrape(&client, p.addr, p.metric); err == nil {
			now := time.Now()
			p.mu.Lock()
			if v > p.value {
				if p.first.IsZero() {
					p.first = now
				}
				p.last, p.value = now, v
			}
			p.mu.Unlock()
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *progress) rate() (float64, time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	d := p.last.Sub(p.first)
	if d <= 0 {
		return 0, 0
	}
	return p.value / d.Seconds(), d
}

// scrape sums the samples of one metric on a /metrics page.
func scrape(client *http.Client, addr, metric string) (float64, error) {
	resp, err := client.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, metric) {
			continue
		}
		rest := line[len(metric):]
		if rest != "" && rest[0] != '{' && rest[0] != ' ' {
			continue
		}
		fields := strings.Fields(line)
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		if err == nil {
			sum += v
		}
	}
	return sum, sc.Err()
}

// rowCounts counts the findings and assets in ClickHouse.
func (s *localStack) rowCounts(ctx context.Context) (findings, assets int, err error) {
	for _, q := range []struct {
		table string
		n     *int
	}{{"findings", &findings}, {"assets", &assets}} {
		r, err := s.store.Query(ctx, "SELECT count() FROM tributary."+q.table+" FINAL")
		if err != nil {
			return 0, 0, err
		}
		for r.Next() {
			var n uint64
			if err := r.Scan(&n); err != nil {
				r.Close()
				return 0, 0, err
			}
			*q.n = int(n)
		}
		r.Close()
	}
	return findings, assets, nil
}

// bench measures the start-up Full sync: end-to-end findings/s, each stage's rate and
// every service's peak RSS. It checks that every finding landed in ClickHouse.
func (s *localStack) bench(ctx context.Context, o options) error {
	pollCtx, stopPolling := context.WithCancel(ctx)
	defer stopPolling()
	normalized := &progress{addr: s.services.AdminAddr("normalizer"), metric: "tributary_normalizer_records_in_total"}
	written := &progress{addr: s.services.AdminAddr("processor"), metric: `tributary_processor_clickhouse_rows_total{table="findings"}`}
	go normalized.poll(pollCtx)
	go written.poll(pollCtx)

	syncs, err := s.waitForSyncs(ctx)
	if err != nil {
		return err
	}
	stopPolling()
	sy := syncs[s.connectors[0]]
	if sy.FailedStage != "" {
		return fmt.Errorf("the benchmark sync failed at %s; see %s/logs", sy.FailedStage, s.dir)
	}
	fetching := sy.Stage(model.StageFetching)
	findings, assets, err := s.rowCounts(ctx)
	if err != nil {
		return err
	}
	title := fmt.Sprintf("one AWS Inspector Full sync of %d findings (simulator page cap %d)", o.findings, o.pageCap)
	simulator, simNote := s.simulator, "(AWS stand-in)"
	wantFindings, wantAssets := o.findings, -1
	if o.vendor == "cortex" {
		// Fetching's records are the endpoints and their vulnerability rows.
		wantFindings, wantAssets = int(fetching.RecordsOut)-o.endpoints, o.endpoints
		title = fmt.Sprintf("one Cortex XDR Full sync of %d endpoints and their %d findings", o.endpoints, wantFindings)
		simulator, simNote = s.cortexSim, "(Cortex XDR stand-in)"
	}
	if findings != wantFindings || (wantAssets >= 0 && assets != wantAssets) {
		return fmt.Errorf("benchmark: %d findings and %d assets in ClickHouse, want %d and %d", findings, assets, wantFindings, wantAssets)
	}
	o.findings = findings
	// A Done sync's stages all have their times.
	total := sy.Stage(model.StageProcessing).EndedAt.Sub(sy.StartedAt)
	fetchDur := fetching.EndedAt.Sub(*fetching.StartedAt)
	normRate, normDur := normalized.rate()
	writeRate, writeDur := written.rate()

	fmt.Printf("\nBenchmark: %s, simulator → ClickHouse rows visible\n", title)
	fmt.Printf("  end to end     %8.0f findings/s  (%s)\n", float64(o.findings)/total.Seconds(), total.Round(time.Millisecond))
	fmt.Printf("  fetching       %8.0f records/s   (%s)\n", float64(fetching.RecordsOut)/fetchDur.Seconds(), fetchDur.Round(time.Millisecond))
	fmt.Printf("  normalizing    %8.0f records/s   (%s, first to last record)\n", normRate, normDur.Round(time.Millisecond))
	fmt.Printf("  processing     %8.0f findings/s  (%s, first to last ClickHouse batch)\n", writeRate, writeDur.Round(time.Millisecond))
	fmt.Println("  per process     peak RSS   CPU time")
	type measured struct {
		name, note string
		pid        int
	}
	procs := []measured{{name: "fetcher"}, {name: "normalizer"}, {name: "processor"}}
	for i := range procs {
		procs[i].pid = s.services.Process(procs[i].name).PID()
	}
	procs = append(procs,
		measured{"kfake", "(in-memory test Kafka)", s.kfake.PID()},
		measured{"simulator", simNote, simulator.PID()},
		measured{"clickhouse", "(ClickHouse 18.16 server)", s.clickhouse.PID()})
	for _, p := range procs {
		rss, err := stack.PeakRSS(p.name, p.pid)
		if err != nil {
			return err
		}
		cpu, err := stack.CPUTime(p.name, p.pid)
		if err != nil {
			return err
		}
		fmt.Printf("    %-12s %6.1f MiB  %7.1f s  %s\n", p.name, float64(rss)/(1<<20), cpu.Seconds(), p.note)
	}
	return nil
}
