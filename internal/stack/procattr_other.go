//go:build !linux

package stack

import "syscall"

// childProcAttr has nothing to add where the kernel offers no parent-death signal.
func childProcAttr() *syscall.SysProcAttr { return nil }
