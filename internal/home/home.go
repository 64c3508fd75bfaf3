// Package home locates mmrag's data folder, $MMRAG_HOME: the models,
// ONNX Runtime, the default knowledge base and compiled-module caches live
// under it. Every package that needs the folder asks Dir.
package home

import (
	"fmt"
	"os"
	"path/filepath"
)

// Env names the variable that sets the folder.
const Env = "MMRAG_HOME"

// Dir is $MMRAG_HOME, or the "mmrag" folder in the user's cache folder
// (os.UserCacheDir) when that is unset; the folder need not exist.
func Dir() (string, error) {
	if h := os.Getenv(Env); h != "" {
		return h, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("locate the user cache folder (set %s instead): %w", Env, err)
	}
	return filepath.Join(d, "mmrag"), nil
}
