package stack

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

var httpClient = http.Client{Timeout: 2 * time.Second}

// Process is a child process whose output goes to <LogDir>/<name>.log.
type Process struct {
	Name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
	log  *os.File
}

// StartProcess starts bin with args and env. The process dies with its parent.
func StartProcess(name, bin string, args, env []string, logDir string) (*Process, error) {
	logFile, err := os.Create(filepath.Join(logDir, name+".log"))
	if err != nil {
		return nil, fmt.Errorf("creating log of %s: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = childProcAttr()
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting %s (%s): %w; build it with make build", name, bin, err)
	}
	p := &Process{Name: name, cmd: cmd, done: make(chan struct{}), log: logFile}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// WaitReady polls url until it answers 200, the process exits, or a minute passes.
func (p *Process) WaitReady(ctx context.Context, url string) error {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return fmt.Errorf("%s exited at start-up (%v): %s", p.Name, p.err, p.LogTail())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		resp, err := httpClient.Get(url)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	return fmt.Errorf("%s did not become ready within a minute: %s", p.Name, p.LogTail())
}

// Exited returns an error naming the process and its log's tail when it has stopped.
func (p *Process) Exited() error {
	select {
	case <-p.done:
		return fmt.Errorf("%s exited (%v): %s", p.Name, p.err, p.LogTail())
	default:
		return nil
	}
}

// Stop sends SIGTERM and waits, killing the process after 15 seconds.
func (p *Process) Stop() error {
	defer p.log.Close()
	select {
	case <-p.done:
		return nil
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not stop within 15s and was killed", p.Name)
	}
}

// Kill kills the process at once (SIGKILL), as a crash or an OOM kill would.
func (p *Process) Kill() {
	defer p.log.Close()
	_ = p.cmd.Process.Kill()
	<-p.done
}

// PeakRSS returns the peak resident set size in bytes of process pid, called name in
// errors (Linux VmHWM).
func PeakRSS(name string, pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("reading peak RSS of %s: %w", name, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("parsing VmHWM of %s: %w", name, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc status of %s", name)
}

// CPUTime returns the user plus system CPU time process pid, called name in errors,
// has used so far (Linux).
func CPUTime(name string, pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("reading CPU time of %s: %w", name, err)
	}
	// Fields after the parenthesised command name; utime and stime are the 12th and 13th.
	_, rest, ok := strings.Cut(string(b), ") ")
	fields := strings.Fields(rest)
	if !ok || len(fields) < 13 {
		return 0, fmt.Errorf("parsing /proc stat of %s", name)
	}
	var ticks int64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parsing /proc stat of %s: %w", name, err)
		}
		ticks += n
	}
	const clockTicksPerSecond = 100 // USER_HZ on Linux
	return time.Duration(ticks) * time.Second / clockTicksPerSecond, nil
}

// PID is the process id.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// LogTail returns the end of the process's log.
func (p *Process) LogTail() string {
	f, err := os.Open(p.log.Name())
	if err != nil {
		return ""
	}
	defer f.Close()
	const n = 2000
	if st, err := f.Stat(); err == nil && st.Size() > n {
		f.Seek(-n, io.SeekEnd)
	}
	b, _ := io.ReadAll(f)
	return string(b)
}
