package onnx

import (
	"errors"
	"io/fs"
	"strings"
	"syscall"
	"testing"
)

// TestUnreadable checks the error of a model file that cannot be opened,
// as os.Open returns it, whoever runs the test (root reads any file).
func TestUnreadable(t *testing.T) {
	err := unreadable(&fs.PathError{Op: "open", Path: "/models/text_model.onnx", Err: syscall.EACCES})
	if !errors.Is(err, fs.ErrPermission) {
		t.Errorf("%v does not wrap fs.ErrPermission", err)
	}
	if got, want := err.Error(), "cannot read the file: permission denied"; got != want {
		t.Errorf("error %q, want %q (the caller names the path once)", got, want)
	}
	if strings.Contains(err.Error(), "not a valid") {
		t.Errorf("error %q", err)
	}
}
