package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"mmrag/onnx"
	"mmrag/onnx/onnxgraph"
)

// env is the work folder, the generated model and the environment every
// mmrag process gets.
type env struct {
	o     *options
	bin   string
	work  string
	home  string
	model string
	base  []string

	mu    sync.Mutex
	procs map[*proc]bool // running children, killed on the way out
}

func newEnv(o *options) (*env, error) {
	bin, err := filepath.Abs(o.bin)
	if err != nil {
		return nil, err
	}
	if st, err := os.Stat(bin); err != nil || st.IsDir() {
		return nil, fmt.Errorf("no mmrag binary at %s (run make build): %v", bin, err)
	}
	// ONNX Runtime is found through $MMRAG_HOME by default: pin the real
	// library before the children get a home of their own.
	ort := os.Getenv("MMRAG_ORT_LIB")
	if ort == "" {
		ort = onnx.DefaultLibraryPath()
	}
	if _, err := os.Stat(ort); err != nil {
		return nil, fmt.Errorf("no ONNX Runtime at %s (run make setup, or set MMRAG_ORT_LIB): %v", ort, err)
	}
	work, err := os.MkdirTemp("", "mmrag-reliability-")
	if err != nil {
		return nil, err
	}
	// The temporary folder may be reached through a symbolic link; the
	// store compares real paths.
	if real, err := filepath.EvalSymlinks(work); err == nil {
		work = real
	}
	e := &env{o: o, bin: bin, work: work, home: filepath.Join(work, "home"), procs: map[*proc]bool{}}
	e.model = filepath.Join(work, "model")
	if err := onnxgraph.WriteModelFolder(e.model, onnxgraph.FolderOptions{Preset: onnxgraph.PresetTiny, Seed: 13}); err != nil {
		os.RemoveAll(work)
		return nil, fmt.Errorf("generate the tiny CLIP model: %w", err)
	}
	// The children's environment: this one without any mmrag, LLM or hub
	// setting of the machine, then a home of their own, the model, and a
	// hub endpoint nothing listens on.
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "MMRAG_") || strings.HasPrefix(k, "OLLAMA") || strings.HasPrefix(k, "OPENAI") ||
			strings.HasPrefix(k, "HF_") || k == "HUGGING_FACE_HUB_TOKEN" || k == "ONNXRUNTIME_SHARED_LIBRARY_PATH" {
			continue
		}
		e.base = append(e.base, kv)
	}
	e.base = append(e.base, "MMRAG_HOME="+e.home, "MMRAG_ORT_LIB="+ort, "MMRAG_MODEL="+e.model,
		"HF_ENDPOINT=http://127.0.0.1:1", "HF_HUB_OFFLINE=1")
	return e, nil
}

// cleanup kills the children still running and removes the work folder.
func (e *env) cleanup() {
	e.mu.Lock()
	var left []*proc
	for p := range e.procs {
		left = append(left, p)
	}
	e.mu.Unlock()
	for _, p := range left {
		p.kill()
		p.wait(5 * time.Second)
	}
	if e.o.keep {
		fmt.Printf("reliability: kept %s\n", e.work)
		return
	}
	if err := os.RemoveAll(e.work); err != nil {
		fmt.Fprintf(os.Stderr, "reliability: remove %s: %v\n", e.work, err)
	}
}

// path is a path under the work folder, its parents created.
func (e *env) path(elem ...string) string {
	p := filepath.Join(append([]string{e.work}, elem...)...)
	os.MkdirAll(filepath.Dir(p), 0o755)
	return p
}

// syncBuffer is a bytes.Buffer safe to read while a process writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// proc is a running mmrag.
type proc struct {
	e       *env
	cmd     *exec.Cmd
	out     syncBuffer
	errOut  syncBuffer
	start   time.Time
	done    chan struct{}
	res     result
	killed  bool
	killMu  sync.Mutex
	argDesc string
}

// result is how a process ended.
type result struct {
	Code     int // exit status; -1 when ended by a signal or not started
	Signal   syscall.Signal
	TimedOut bool
	Killed   bool // by us (kill)
	Stdout   string
	Stderr   string
	MaxRSS   int64 // KiB
	Elapsed  time.Duration
	Err      error // could not start
}

// start runs mmrag with args on store (--store; "" leaves it out), in a
// process group of its own.
func (e *env) start(store string, args ...string) (*proc, error) {
	full := []string{"--threads", "1"}
	if store != "" {
		full = append(full, "--store", store)
	}
	full = append(full, args...)
	p := &proc{e: e, done: make(chan struct{}), argDesc: strings.Join(args, " ")}
	p.cmd = exec.Command(e.bin, full...)
	p.cmd.Env = e.base
	p.cmd.Dir = e.work
	p.cmd.Stdout = &p.out
	p.cmd.Stderr = &p.errOut
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p.start = time.Now()
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	e.mu.Lock()
	e.procs[p] = true
	e.mu.Unlock()
	go func() {
		err := p.cmd.Wait()
		r := result{Code: -1, Elapsed: time.Since(p.start), Stdout: p.out.String(), Stderr: p.errOut.String()}
		if st, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus); ok {
			if st.Signaled() {
				r.Signal = st.Signal()
			} else {
				r.Code = st.ExitStatus()
			}
		}
		if ru, ok := p.cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			r.MaxRSS = ru.Maxrss
		}
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			r.Err = err
		}
		p.killMu.Lock()
		r.Killed = p.killed
		p.killMu.Unlock()
		p.res = r
		e.mu.Lock()
		delete(e.procs, p)
		e.mu.Unlock()
		close(p.done)
	}()
	return p, nil
}

// kill sends SIGKILL to the process group.
func (p *proc) kill() {
	p.killMu.Lock()
	p.killed = true
	p.killMu.Unlock()
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
}

// signal sends sig to the process only.
func (p *proc) signal(sig syscall.Signal) { p.cmd.Process.Signal(sig) }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// wait waits up to timeout, then kills the process and notes the timeout.
func (p *proc) wait(timeout time.Duration) result {
	select {
	case <-p.done:
		return p.res
	case <-time.After(timeout):
	}
	p.kill()
	<-p.done
	r := p.res
	r.TimedOut = true
	r.Killed = false
	return r
}

// run runs mmrag to its end, or kills it after timeout.
func (e *env) run(timeout time.Duration, store string, args ...string) result {
	p, err := e.start(store, args...)
	if err != nil {
		return result{Code: -1, Err: err}
	}
	return p.wait(timeout)
}

// String says how the process ended.
func (r result) String() string {
	switch {
	case r.Err != nil:
		return "did not start: " + r.Err.Error()
	case r.TimedOut:
		return fmt.Sprintf("timed out after %.0fs", r.Elapsed.Seconds())
	case r.Signal != 0:
		return fmt.Sprintf("killed by %v after %.1fs", r.Signal, r.Elapsed.Seconds())
	}
	return fmt.Sprintf("exit %d after %.1fs", r.Code, r.Elapsed.Seconds())
}

// exitDesc is the exit status for the summary.
func (r result) exitDesc() string {
	if r.Code >= 0 && !r.TimedOut && r.Err == nil {
		return strconv.Itoa(r.Code)
	}
	return r.String()
}

// crashed describes a crash: a panic, a Go runtime fatal error, or a signal
// we did not send. "" when the process ended by itself or by our kill.
func (r result) crashed() string {
	for _, m := range []string{"panic:", "fatal error:", "SIGSEGV", "goroutine 1 [", "runtime: out of memory"} {
		if i := strings.Index(r.Stderr, m); i >= 0 {
			return "crashed: " + firstLine(r.Stderr[i:])
		}
	}
	if r.Signal != 0 && !r.Killed && !r.TimedOut {
		return fmt.Sprintf("ended by signal %v", r.Signal)
	}
	return ""
}

// ok says the process exited 0; else why not, with the end of its stderr.
func (r result) ok() (bool, string) {
	if r.Code == 0 && !r.TimedOut && r.Err == nil {
		return true, ""
	}
	return false, r.String() + ": " + tail(r.Stderr, 400)
}

func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		s = "…" + s[len(s)-n:]
	}
	return strings.ReplaceAll(s, "\n", " ⏎ ")
}

// server is a running `mmrag serve`.
type server struct {
	p    *proc
	addr string // 127.0.0.1:PORT
	base string // http://127.0.0.1:PORT
}

var servingRe = regexp.MustCompile(`addr=http://(127\.0\.0\.1:\d+)`)

// serve starts `mmrag serve` on store at a free loopback port and waits
// until /healthz answers.
func (e *env) serve(ctx context.Context, store string, extra ...string) (*server, error) {
	// The address comes from the "serving" line, logged at info.
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--log-level", "info"}, extra...)
	p, err := e.start(store, args...)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if p.exited() {
			return nil, fmt.Errorf("mmrag serve %s: %s", p.res, tail(p.res.Stderr, 600))
		}
		if m := servingRe.FindStringSubmatch(p.errOut.String()); m != nil {
			s := &server{p: p, addr: m[1], base: "http://" + m[1]}
			if err := s.waitHealthy(ctx, 30*time.Second); err != nil {
				s.stop()
				return nil, err
			}
			return s, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.kill()
	p.wait(5 * time.Second)
	return nil, fmt.Errorf("mmrag serve did not say where it listens: %s", tail(p.errOut.String(), 600))
}

// stop ends the server gracefully (SIGTERM), killing it after 15 s.
func (s *server) stop() result {
	if !s.p.exited() {
		s.p.signal(syscall.SIGTERM)
	}
	return s.p.wait(15 * time.Second)
}

// pid is the server's process id.
func (s *server) pid() int { return s.p.cmd.Process.Pid }

// procStatus reads fields of /proc/PID/status in KiB (VmRSS, VmHWM).
func procStatus(pid int) (map[string]int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || !strings.HasPrefix(k, "Vm") {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) >= 1 {
			n, _ := strconv.ParseInt(fields[0], 10, 64)
			out[k] = n
		}
	}
	return out, sc.Err()
}
