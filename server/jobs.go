package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"mmrag"
)

// Job states.
const (
	JobQueued  = "queued"
	JobRunning = "running"
	JobDone    = "done"   // finished; some sources may have failed (Failed > 0)
	JobFailed  = "failed" // nothing stored: every source failed, or the run did
)

// Job is an ingest job as the API shows it.
type Job struct {
	ID        string     `json:"id"`
	State     string     `json:"state"`
	Kind      string     `json:"kind"`    // upload, urls or reingest
	Sources   []string   `json:"sources"` // what was asked for: file names or URLs
	Total     int        `json:"total"`
	Done      int        `json:"done"`
	Failed    int        `json:"failed"`
	Current   string     `json:"current,omitempty"`
	Documents []string   `json:"documents"`
	Errors    []JobError `json:"errors"`
	Created   time.Time  `json:"created"`
	Started   *time.Time `json:"started,omitempty"`
	Finished  *time.Time `json:"finished,omitempty"`
}

func (j Job) clone() Job {
	j.Sources = slices.Clone(j.Sources)
	j.Documents = slices.Clone(j.Documents)
	j.Errors = slices.Clone(j.Errors)
	return j
}

// Limits of the in-memory queue.
const (
	maxQueuedJobs = 64  // waiting at once; more are refused with 503
	maxKeptJobs   = 256 // finished jobs are forgotten, oldest first, past this
)

// errQueueFull refuses a job while too many wait.
var errQueueFull = fmt.Errorf("%w: too many ingest jobs waiting; try again later", ErrUnavailable)

type job struct {
	Job     // guarded by jobQueue.mu
	targets []string
	names   map[string]string // target → the name shown (an upload's file name)
}

// jobQueue runs ingest jobs one at a time in the background: ingest is
// CPU-bound and the pipeline's own workers already use the cores.
type jobQueue struct {
	s      *Server
	ing    Ingester
	mu     sync.Mutex
	jobs   map[string]*job
	order  []string // ids, oldest first
	queue  chan *job
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newJobQueue(s *Server, ing Ingester) *jobQueue {
	q := &jobQueue{s: s, ing: ing, jobs: map[string]*job{}, queue: make(chan *job, maxQueuedJobs)}
	q.ctx, q.cancel = context.WithCancel(context.Background())
	if ing != nil {
		q.wg.Add(1)
		go q.work()
	}
	return q
}

// add queues a job over targets; names[i] is what the API shows for
// targets[i].
func (q *jobQueue) add(kind string, targets, names []string) (Job, error) {
	if q.ing == nil {
		return Job{}, fmt.Errorf("%w: this server has no ingest pipeline", ErrUnavailable)
	}
	j := &job{
		Job: Job{
			ID: "job_" + randomID(8), State: JobQueued, Kind: kind, Sources: names,
			Total: len(targets), Documents: []string{}, Errors: []JobError{}, Created: time.Now().UTC(),
		},
		targets: targets,
		names:   map[string]string{},
	}
	for i, t := range targets {
		j.names[t] = names[i]
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.ctx.Err() != nil {
		return Job{}, fmt.Errorf("%w: the server is shutting down", ErrUnavailable)
	}
	select {
	case q.queue <- j:
	default:
		return Job{}, errQueueFull
	}
	q.jobs[j.ID] = j
	q.order = append(q.order, j.ID)
	q.evict()
	return j.Job.clone(), nil
}

// evict forgets the oldest finished jobs past maxKeptJobs.
func (q *jobQueue) evict() {
	for i := 0; len(q.order) > maxKeptJobs && i < len(q.order); {
		j := q.jobs[q.order[i]]
		if j.State == JobDone || j.State == JobFailed {
			delete(q.jobs, j.ID)
			q.order = slices.Delete(q.order, i, i+1)
			continue
		}
		i++
	}
}

func (q *jobQueue) get(id string) (Job, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	j, ok := q.jobs[id]
	if !ok {
		return Job{}, false
	}
	return j.Job.clone(), true
}

// list returns the jobs, newest first.
func (q *jobQueue) list() []Job {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([]Job, 0, len(q.order))
	for i := len(q.order) - 1; i >= 0; i-- {
		out = append(out, q.jobs[q.order[i]].Job.clone())
	}
	return out
}

// counts returns the number of jobs in each state.
func (q *jobQueue) counts() map[string]int {
	q.mu.Lock()
	defer q.mu.Unlock()
	c := map[string]int{JobQueued: 0, JobRunning: 0, JobDone: 0, JobFailed: 0}
	for _, j := range q.jobs {
		c[j.State]++
	}
	return c
}

func (q *jobQueue) update(j *job, f func()) {
	q.mu.Lock()
	defer q.mu.Unlock()
	f()
}

// close cancels the running job, fails the queued ones and waits for the
// worker.
func (q *jobQueue) close() {
	q.mu.Lock()
	q.cancel()
	q.mu.Unlock()
	q.wg.Wait()
	for {
		select {
		case j := <-q.queue:
			q.finish(j, nil, errors.New("the server stopped before the job ran"))
		default:
			return
		}
	}
}

func (q *jobQueue) work() {
	defer q.wg.Done()
	for {
		select {
		case <-q.ctx.Done():
			return
		case j := <-q.queue:
			q.run(j)
		}
	}
}

func (q *jobQueue) run(j *job) {
	log := q.s.log.With("job", j.ID, "kind", j.Kind)
	now := time.Now().UTC()
	q.update(j, func() { j.State, j.Started = JobRunning, &now })
	log.Info("job started", "sources", len(j.targets))
	var (
		ids []string
		err error
	)
	func() {
		// A panic in the pipeline fails the job, not the server.
		defer func() {
			if p := recover(); p != nil {
				log.Error("panic in ingest job", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				err = fmt.Errorf("internal error: %v", p)
			}
		}()
		ids, err = q.ing.Ingest(q.ctx, j.targets, func(p Progress) {
			q.update(j, func() {
				j.Total = max(p.Total, len(j.targets))
				j.Done, j.Failed = p.Done, p.Failed
				j.Current = j.display(p.Current)
				j.Errors = j.displayErrors(p.Errors)
			})
		})
	}()
	q.cleanFailedUploads(j) // before the job shows finished: a client may look at once
	q.finish(j, ids, err)
	q.mu.Lock()
	snap := j.Job.clone()
	q.mu.Unlock()
	log.Info("job finished", "state", snap.State, "done", snap.Done, "failed", snap.Failed,
		"documents", len(snap.Documents), "seconds", snap.Finished.Sub(*snap.Started).Seconds())
}

func (q *jobQueue) finish(j *job, ids []string, err error) {
	q.update(j, func() {
		now := time.Now().UTC()
		if j.Started == nil {
			j.Started = &now
		}
		j.Finished, j.Current = &now, ""
		if ids != nil {
			j.Documents = ids
		}
		switch {
		case err != nil:
			if errors.Is(err, context.Canceled) && q.ctx.Err() != nil {
				err = errors.New("interrupted: the server is shutting down")
			}
			j.Errors = append(j.Errors, JobError{Error: j.displayText(err.Error())})
			j.State = JobFailed
		case j.Failed > 0 && j.Done == 0:
			j.State = JobFailed
		default:
			j.State = JobDone
		}
	})
}

// cleanFailedUploads removes the uploaded files that were not stored: they
// would otherwise fill the upload folder with what nobody can reach.
func (q *jobQueue) cleanFailedUploads(j *job) {
	if j.Kind != "upload" {
		return
	}
	for _, t := range j.targets {
		_, err := q.s.cfg.Store.DocumentBySource(q.ctx, t)
		if errors.Is(err, mmrag.ErrNotFound) {
			q.s.removeUpload(t)
		}
	}
}

func (j *job) display(target string) string {
	if n, ok := j.names[target]; ok {
		return n
	}
	return target
}

// displayText replaces upload paths, which tell the server's layout, by
// the names the client sent.
func (j *job) displayText(s string) string {
	for t, n := range j.names {
		if t != n {
			s = strings.ReplaceAll(s, t, n)
		}
	}
	return s
}

func (j *job) displayErrors(errs []JobError) []JobError {
	out := make([]JobError, len(errs))
	for i, e := range errs {
		out[i] = JobError{Source: j.display(e.Source), Error: j.displayText(e.Error)}
	}
	return out
}

func (s *Server) handleJob(w http.ResponseWriter, r *http.Request) {
	j, ok := s.jobs.get(r.PathValue("id"))
	if !ok {
		s.fail(w, r, http.StatusNotFound, "no job "+r.PathValue("id")+" (jobs are kept in memory until the server restarts)")
		return
	}
	writeJSON(w, http.StatusOK, j)
}

func (s *Server) handleJobs(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"jobs": s.jobs.list()})
}
