package stack

import "syscall"

// childProcAttr kills a service when the process that started it dies, so a crashed
// test or local stack leaves no orphans.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
