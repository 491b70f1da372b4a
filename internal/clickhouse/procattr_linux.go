package clickhouse

import "syscall"

// childProcAttr kills the server when the process that started it dies, so a crashed
// test or local stack never leaves a ClickHouse server behind.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
