//go:build !race

package sqlite

// raceEnabled shrinks the ANN tests' collections under the race detector.
const raceEnabled = false
