package server

import (
	"path/filepath"
	"testing"
)

// TestDisplaySource: a client sees an upload's name, a local file's path
// under the folder it was ingested from, or its folder and name; never
// the server's folders.
func TestDisplaySource(t *testing.T) {
	uploads := filepath.Join(t.TempDir(), "uploads")
	s := &Server{cfg: Config{UploadDir: uploads}}
	for _, tc := range []struct{ src, root, want string }{
		{filepath.Join(uploads, "u1", "report.pdf"), "", "report.pdf"},
		{filepath.Join(uploads, "u1", "site", "img", "a.png"), "", "site/img/a.png"},
		{"/home/ann/notes/2026/plan.md", "/home/ann/notes", "notes/2026/plan.md"},
		{"/home/ann/notes/plan.md", "/home/ann/notes", "notes/plan.md"},
		{"/home/ann/notes/plan.md", "", "notes/plan.md"},               // stored before roots were
		{"/home/ann/notes/plan.md", "/srv/elsewhere", "notes/plan.md"}, // root does not hold it
		{"https://example.com/a/b.html", "", "https://example.com/a/b.html"},
	} {
		if got := s.displaySource(tc.src, tc.root); got != tc.want {
			t.Errorf("displaySource(%q, %q) = %q, want %q", tc.src, tc.root, got, tc.want)
		}
	}
}
