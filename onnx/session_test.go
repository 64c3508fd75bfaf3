package onnx_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mmrag/onnx"
	"mmrag/onnx/onnxtest"
)

// TestOpenBadFile checks that Open says what is wrong with a model file
// that cannot be used: unreadable, a folder, missing, empty, not ONNX.
func TestOpenBadFile(t *testing.T) {
	onnxtest.Init(t)
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	folder := filepath.Join(dir, "folder.onnx")
	if err := os.Mkdir(folder, 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path string
		want       []string
		not        string
	}{
		{"unreadable", write("locked.onnx", "\x08\x07", 0), []string{"locked.onnx", "cannot read the file", "permission denied"}, "not a valid ONNX model"},
		{"folder", folder, []string{"folder.onnx", "is a directory"}, "not a valid ONNX model"},
		{"missing", filepath.Join(dir, "none.onnx"), []string{"none.onnx", "no such file"}, "not a valid ONNX model"},
		{"empty", write("empty.onnx", "", 0o644), []string{"empty.onnx", "empty file"}, "not a valid ONNX model"},
		{"garbage", write("junk.onnx", "this is not protobuf", 0o644), []string{"junk.onnx", "not a valid ONNX model"}, "cannot read"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "unreadable" {
				if f, err := os.Open(tt.path); err == nil {
					f.Close()
					t.Skip("file modes do not stop this user (root): see TestUnreadable and the folder case")
				}
			}
			s, err := onnx.Open(tt.path, nil, onnx.Options{})
			if err == nil {
				s.Close()
				t.Fatal("opened")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), tt.not) {
				t.Errorf("error %q says %q", err, tt.not)
			}
		})
	}
}
