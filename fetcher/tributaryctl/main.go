// Command tributaryctl is a command-line client of the fetcher's control API: it lists
// connectors and syncs, tests a connector, starts a sync and shows a sync's log.
package main

import "os"

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }
