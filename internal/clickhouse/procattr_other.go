//go:build !linux

package clickhouse

import "syscall"

// childProcAttr has nothing to add where the kernel offers no parent-death signal.
func childProcAttr() *syscall.SysProcAttr { return nil }
