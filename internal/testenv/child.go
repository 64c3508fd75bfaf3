package testenv

import (
	"bufio"
	"os"
	"os/exec"
	"testing"
)

// Child starts this test binary again, running the tests run matches
// (verbose), with env ("NAME=value") added to its environment: the way
// crash tests get a process to kill. It returns the process and its output,
// stdout and stderr, line by line; the channel closes when the output ends.
func Child(t testing.TB, run string, env ...string) (*exec.Cmd, <-chan string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run="+run, "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	return cmd, lines
}
