package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"mmrag/ingest"
)

// ingestProgress reports an ingest on w: on a terminal one progress bar
// redrawn in place, with failures and warnings printed above it as lines;
// elsewhere (a file, a pipe, CI logs) a line per file. done clears the bar.
func ingestProgress(w io.Writer, verbose bool) (progress func(ingest.Event), done func()) {
	lines := progressPrinter(w, verbose)
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return lines, func() {}
	}
	b := &progressBar{w: w, fd: int(f.Fd()), lines: lines, verbose: verbose, start: time.Now(), todo: map[string]int{}}
	return b.event, b.clear
}

// progressBar is the state of the redrawn line.
type progressBar struct {
	w       io.Writer
	fd      int
	lines   func(ingest.Event)
	verbose bool
	start   time.Time
	drawn   time.Time

	started, finished, failed int
	items                     int            // stored
	embedded                  int            // vectors computed, all files
	todo                      map[string]int // source → vectors still to compute
	current                   string
}

// redrawEvery bounds how often the bar is drawn.
const redrawEvery = 100 * time.Millisecond

func (b *progressBar) event(e ingest.Event) {
	switch e.Kind {
	case ingest.Started:
		b.started++
		b.current = e.Source
	case ingest.Chunked:
		b.todo[e.Source] = e.Total
	case ingest.Embedding:
		b.embedded += b.todo[e.Source] - (e.Total - e.Done)
		b.todo[e.Source] = e.Total - e.Done
		b.current = e.Source
	case ingest.Added, ingest.Updated, ingest.Unchanged:
		b.finished++
		b.items += e.Items
		delete(b.todo, e.Source)
	case ingest.Failed:
		b.finished++
		b.failed++
		delete(b.todo, e.Source)
		b.printLine(e)
	case ingest.Warning, ingest.Removed:
		b.printLine(e)
	default:
		if b.verbose {
			b.printLine(e)
		}
	}
	if time.Since(b.drawn) >= redrawEvery || !e.Kind.InFile() {
		b.draw()
	}
}

// printLine prints an event as the line printer would, above the bar.
func (b *progressBar) printLine(e ingest.Event) {
	b.clear()
	b.lines(e)
}

func (b *progressBar) clear() { fmt.Fprint(b.w, "\r\x1b[K") }

func (b *progressBar) draw() {
	b.drawn = time.Now()
	width := 80
	if w, _, err := term.GetSize(b.fd); err == nil && w > 20 {
		width = w
	}
	fmt.Fprint(b.w, "\r\x1b[K"+b.line(width))
}

// line is the bar's text, at most width columns.
func (b *progressBar) line(width int) string {
	secs := time.Since(b.start).Seconds()
	rate := 0.0
	if secs > 0 {
		rate = float64(b.embedded) / secs
	}
	left := 0
	for _, n := range b.todo {
		left += n
	}
	eta := "–"
	if rate > 0 && left > 0 {
		eta = (time.Duration(float64(left)/rate) * time.Second).Round(time.Second).String()
	}
	const cells = 20
	fill := 0
	if b.started > 0 {
		fill = cells * b.finished / b.started
	}
	text := fmt.Sprintf("[%s%s] %d/%d files", strings.Repeat("#", fill), strings.Repeat(".", cells-fill), b.finished, b.started)
	if b.failed > 0 {
		text += fmt.Sprintf(" (%d failed)", b.failed)
	}
	text += fmt.Sprintf(" · %d items · %.0f emb/s · ETA %s", b.items, rate, eta)
	if room := width - len([]rune(text)) - 3; room > 10 && b.current != "" {
		text += "  " + tail(safe(b.current), room)
	}
	if r := []rune(text); len(r) >= width { // a wrapped line would not redraw in place
		text = string(r[:width-1])
	}
	return text
}

// tail keeps the last n runes of s, marking a cut with "…".
func tail(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return "…" + string(r[len(r)-n+1:])
}
