// Package testenv is the one way mmrag's tests check for what they need
// from outside the Go code (a tool on PATH, a font, ONNX Runtime, an Ollama
// or Weaviate server): without it a test is skipped with a message saying
// how to get it, but where the matching MMRAG_REQUIRE_* variable is set (CI
// sets them) it fails instead, so that a missing dependency never turns a
// test into a silent skip.
package testenv

import (
	"os"
	"os/exec"
	"strconv"
	"testing"
)

// The variables that turn skips into failures.
const (
	RequireTools    = "MMRAG_REQUIRE_TOOLS"    // external programs, fonts, Chromium
	RequireORT      = "MMRAG_REQUIRE_ORT"      // the ONNX Runtime library
	RequireOllama   = "MMRAG_REQUIRE_OLLAMA"   // an Ollama server and the real MiniLM weights
	RequireWeaviate = "MMRAG_REQUIRE_WEAVIATE" // a Weaviate server
)

// Required reports whether the variable require is set (to anything but
// "0"): a missing dependency must then fail the test.
func Required(require string) bool {
	v := os.Getenv(require)
	return v != "" && v != "0"
}

// Check returns ok; when it is false and require is set it fails t first,
// saying why. For tests that run a part only when the dependency is there.
func Check(t testing.TB, ok bool, require, why string) bool {
	t.Helper()
	if !ok && Required(require) {
		t.Fatalf("%s (and %s is set)", why, require)
	}
	return ok
}

// Need skips t, saying why, unless ok; when require is set it fails t
// instead.
func Need(t testing.TB, ok bool, require, why string) {
	t.Helper()
	if !Check(t, ok, require, why) {
		t.Skip(why)
	}
}

// Tool returns the path of the first of names found on PATH; without any
// it skips t (fails it under MMRAG_REQUIRE_TOOLS), saying to install pkg.
func Tool(t testing.TB, pkg string, names ...string) string {
	t.Helper()
	for _, name := range names {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	Need(t, false, RequireTools, names[0]+" not found: install "+pkg+" to run this test")
	return ""
}

// File returns the first of paths that exists; without any it skips t
// (fails it under MMRAG_REQUIRE_TOOLS), saying what to install.
func File(t testing.TB, what, pkg string, paths ...string) string {
	t.Helper()
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	Need(t, false, RequireTools, what+" not found: install "+pkg+" to run this test")
	return ""
}

// Ollama server for tests, as scripts/ollama.sh start sets it up.
const (
	OllamaURLEnv     = "MMRAG_OLLAMA_URL"
	DefaultChatModel = "mmrag-stories" // MMRAG_OLLAMA_CHAT_MODEL's default
	DefaultEmbed     = "mmrag-minilm"  // MMRAG_OLLAMA_EMBED_MODEL's default
)

const ollamaWhy = "MMRAG_OLLAMA_URL not set: run `eval \"$(scripts/ollama.sh start)\"` for a real server"

// OllamaURL returns $MMRAG_OLLAMA_URL, or skips t (fails it under
// MMRAG_REQUIRE_OLLAMA).
func OllamaURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(OllamaURLEnv)
	Need(t, u != "", RequireOllama, ollamaWhy)
	return u
}

// OptionalOllamaURL returns $MMRAG_OLLAMA_URL, or "" (failing t under
// MMRAG_REQUIRE_OLLAMA): for tests that run their Ollama part only with a
// server.
func OptionalOllamaURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(OllamaURLEnv)
	Check(t, u != "", RequireOllama, ollamaWhy)
	return u
}

// OllamaChatModel is $MMRAG_OLLAMA_CHAT_MODEL, else DefaultChatModel.
func OllamaChatModel() string { return envOr("MMRAG_OLLAMA_CHAT_MODEL", DefaultChatModel) }

// OllamaEmbedModel is $MMRAG_OLLAMA_EMBED_MODEL, else DefaultEmbed.
func OllamaEmbedModel() string { return envOr("MMRAG_OLLAMA_EMBED_MODEL", DefaultEmbed) }

// Weaviate returns the test server's $MMRAG_WEAVIATE_URL and
// $MMRAG_WEAVIATE_GRPC_PORT (0 when unset), as scripts/weaviate.sh exec
// sets them, or skips t (fails it under MMRAG_REQUIRE_WEAVIATE).
func Weaviate(t testing.TB) (url string, grpcPort int) {
	t.Helper()
	url = os.Getenv("MMRAG_WEAVIATE_URL")
	Need(t, url != "", RequireWeaviate,
		"no Weaviate server: set MMRAG_WEAVIATE_URL (scripts/weaviate.sh start; run the tests through scripts/weaviate.sh exec)")
	if p := os.Getenv("MMRAG_WEAVIATE_GRPC_PORT"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil {
			t.Fatalf("MMRAG_WEAVIATE_GRPC_PORT=%q: %v", p, err)
		}
		grpcPort = n
	}
	return url, grpcPort
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
