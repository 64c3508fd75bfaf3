package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"mmrag/internal/atomicfile"
)

// jobFileName is the job file in the upload folder: hidden, so that no
// walk ingests it.
const jobFileName = ".jobs.json"

// jobFile is what the job file holds.
type jobFile struct {
	Version int    `json:"version"`
	Jobs    []*job `json:"jobs"` // oldest first
}

// load reads the job file: finished jobs are listed again, unfinished
// ones (queued, or running when the server stopped or crashed) are queued
// again; ingest is incremental, so what they stored is not redone.
func (q *jobQueue) load() {
	if q.file == "" {
		return
	}
	data, err := os.ReadFile(q.file)
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	var f jobFile
	if err == nil {
		err = json.Unmarshal(data, &f)
	}
	if err != nil {
		q.s.log.Warn("job file unreadable: starting with no jobs", "path", q.file, "err", err)
		return
	}
	for _, j := range f.Jobs {
		if j == nil || j.ID == "" || q.jobs[j.ID] != nil {
			continue
		}
		if !j.finished() && !q.requeue(j) {
			continue
		}
		q.jobs[j.ID] = j
		q.order = append(q.order, j.ID)
	}
	q.evict()
}

// requeue puts back an unfinished job from the job file; it fails the job
// when the queue is full or the server has no pipeline.
func (q *jobQueue) requeue(j *job) bool {
	if j.State == JobRunning {
		j.Notes = append(j.Notes, JobError{Error: "the server stopped while this job ran: resumed at the next start"})
	}
	j.Warnings = slices.Clone(j.Notes)
	j.State, j.Started, j.Current, j.Stage, j.Step, j.Steps = JobQueued, nil, "", "", 0, 0
	if j.Names == nil {
		j.Names = map[string]string{}
	}
	if q.ing != nil {
		select {
		case q.queue <- j:
			return true
		default:
		}
	}
	now := time.Now().UTC()
	j.State, j.Finished = JobFailed, &now
	j.Errors = append(j.Errors, JobError{Error: "not resumed after a restart: the queue is full or ingest is off"})
	return true
}

// saveLocked writes the job file (atomically: a crash leaves the old one
// or the new). q.mu must be held. Progress within a job is not written:
// a resumed job starts over, skipping what it stored.
func (q *jobQueue) saveLocked() {
	if q.file == "" {
		return
	}
	f := jobFile{Version: 1, Jobs: make([]*job, 0, len(q.order))}
	for _, id := range q.order {
		f.Jobs = append(f.Jobs, q.jobs[id])
	}
	if err := writeFileAtomic(q.file, f); err != nil {
		q.s.log.Warn("job file not written: jobs will not survive a restart", "err", err)
	}
}

func writeFileAtomic(path string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", filepath.Base(path), err)
	}
	return writeBytesAtomic(path, data)
}

// writeBytesAtomic writes data to path whole or not at all.
func writeBytesAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return atomicfile.Write(path, func(f *os.File) error {
		_, err := f.Write(data)
		return err
	})
}
