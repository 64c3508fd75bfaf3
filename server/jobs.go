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
)

// Job states.
const (
	JobQueued    = "queued"
	JobRunning   = "running"
	JobDone      = "done"      // finished; some sources may have failed (Failed > 0)
	JobFailed    = "failed"    // nothing stored: every source failed, or the run did
	JobCancelled = "cancelled" // stopped by a client; what finished before stays stored
)

// jobStates are the states in the order /metrics lists them.
var jobStates = []string{JobQueued, JobRunning, JobDone, JobFailed, JobCancelled}

// Job is an ingest job as the API shows it.
type Job struct {
	ID        string   `json:"id"`
	State     string   `json:"state"`
	Kind      string   `json:"kind"`    // upload, urls or reingest
	Sources   []string `json:"sources"` // what was asked for: file names or URLs
	Total     int      `json:"total"`
	Done      int      `json:"done"`
	Failed    int      `json:"failed"`
	Current   string   `json:"current,omitempty"`
	Stage     string   `json:"stage,omitempty"` // of the current source: extracting, chunking, embedding, storing
	Step      int      `json:"step,omitempty"`  // items of the current source embedded so far…
	Steps     int      `json:"steps,omitempty"` // …out of this many
	Documents []string `json:"documents"`
	// Collection is the collection the job's documents join.
	Collection string     `json:"collection,omitempty"`
	Errors     []JobError `json:"errors"`
	Warnings   []JobError `json:"warnings"`
	Created    time.Time  `json:"created"`
	Started    *time.Time `json:"started,omitempty"`
	Finished   *time.Time `json:"finished,omitempty"`
}

func (j Job) clone() Job {
	j.Sources = slices.Clone(j.Sources)
	j.Documents = slices.Clone(j.Documents)
	j.Errors = slices.Clone(j.Errors)
	j.Warnings = slices.Clone(j.Warnings)
	// Lists are never null in the API (openapi.json says arrays).
	if j.Errors == nil {
		j.Errors = []JobError{}
	}
	if j.Warnings == nil {
		j.Warnings = []JobError{}
	}
	return j
}

func (j Job) finished() bool {
	return j.State == JobDone || j.State == JobFailed || j.State == JobCancelled
}

// Limits of the queue.
const (
	maxQueuedJobs = 64  // waiting at once; more are refused with 503
	maxKeptJobs   = 256 // finished jobs are forgotten, oldest first, past this
)

// errQueueFull refuses a job while too many wait.
var errQueueFull = fmt.Errorf("%w: too many ingest jobs waiting; try again later", ErrUnavailable)

// errCancelled ends a job a client cancelled.
var errCancelled = errors.New("cancelled by a client")

type job struct {
	Job     // guarded by jobQueue.mu
	Targets []string
	Names   map[string]string  // target → the name shown (an upload's file name)
	Notes   []JobError         // warnings of the job itself (resumed after a restart), shown first
	cancel  context.CancelFunc // of the running job; nil otherwise
}

// jobQueue runs ingest jobs one at a time in the background: ingest is
// CPU-bound and the pipeline's own workers already use the cores. It
// keeps its jobs in a file (see jobs_store.go), so that a restart resumes
// the unfinished ones.
type jobQueue struct {
	s      *Server
	ing    Ingester
	file   string // "" keeps jobs in memory only
	mu     sync.Mutex
	jobs   map[string]*job
	order  []string // ids, oldest first
	queue  chan *job
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newJobQueue(s *Server, ing Ingester, file string) *jobQueue {
	q := &jobQueue{s: s, ing: ing, file: file, jobs: map[string]*job{}, queue: make(chan *job, maxQueuedJobs)}
	q.ctx, q.cancel = context.WithCancel(context.Background())
	q.load()
	if ing != nil {
		q.wg.Add(1)
		go q.work()
	}
	return q
}

// add queues a job over targets; names[i] is what the API shows for
// targets[i]. The documents stored join collection, unless "".
func (q *jobQueue) add(kind string, targets, names []string, collection string) (Job, error) {
	if q.ing == nil {
		return Job{}, fmt.Errorf("%w: this server has no ingest pipeline", ErrUnavailable)
	}
	j := &job{
		Job: Job{
			ID: "job_" + randomID(8), State: JobQueued, Kind: kind, Sources: names,
			Total: len(targets), Documents: []string{}, Errors: []JobError{}, Warnings: []JobError{}, Created: time.Now().UTC(),
			Collection: collection,
		},
		Targets: targets,
		Names:   map[string]string{},
	}
	for i, t := range targets {
		j.Names[t] = names[i]
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
	q.saveLocked()
	return j.Job.clone(), nil
}

// evict forgets the oldest finished jobs past maxKeptJobs.
func (q *jobQueue) evict() {
	for i := 0; len(q.order) > maxKeptJobs && i < len(q.order); {
		j := q.jobs[q.order[i]]
		if j.finished() {
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
	c := map[string]int{}
	for _, st := range jobStates {
		c[st] = 0
	}
	for _, j := range q.jobs {
		c[j.State]++
	}
	return c
}

// pending says whether an unfinished job other than except has target
// among its sources.
func (q *jobQueue) pending(target, except string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, j := range q.jobs {
		if j.ID != except && !j.finished() && slices.Contains(j.Targets, target) {
			return true
		}
	}
	return false
}

func (q *jobQueue) update(f func()) {
	q.mu.Lock()
	defer q.mu.Unlock()
	f()
}

// cancelJob stops a job: a queued one at once, a running one as soon as
// its pipeline notices (what it finished stays stored). It returns the job
// and whether it was still unfinished.
func (q *jobQueue) cancelJob(id string) (Job, bool, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	j, ok := q.jobs[id]
	if !ok {
		return Job{}, false, fmt.Errorf("no job %s: %w", id, errNoJob)
	}
	switch j.State {
	case JobQueued:
		now := time.Now().UTC()
		j.State, j.Finished = JobCancelled, &now
		j.Errors = append(j.Errors, JobError{Error: errCancelled.Error()})
		q.saveLocked()
		// Its uploads go once the lock is released (removal asks pending).
		defer func() { go q.cleanFailedUploads(j) }()
		return j.Job.clone(), true, nil
	case JobRunning:
		if j.cancel != nil {
			j.cancel()
		}
		return j.Job.clone(), true, nil
	}
	return j.Job.clone(), false, nil
}

// errNoJob marks an unknown job id.
var errNoJob = errors.New("jobs are kept until the server has 256 finished ones")

// close cancels the running job and waits for the worker. Unfinished
// jobs stay in the job file, and the next start runs them; without a job
// file they fail.
func (q *jobQueue) close() {
	q.mu.Lock()
	q.cancel()
	q.mu.Unlock()
	q.wg.Wait()
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.file != "" {
		q.saveLocked()
		return
	}
	now := time.Now().UTC()
	for _, j := range q.jobs {
		if !j.finished() {
			j.State, j.Finished = JobFailed, &now
			j.Errors = append(j.Errors, JobError{Error: "the server stopped before the job ran"})
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
	ctx, cancel := context.WithCancel(q.ctx)
	defer cancel()
	log := q.s.log.With("job", j.ID, "kind", j.Kind)
	start := false
	q.update(func() {
		if j.State != JobQueued { // cancelled while it waited
			return
		}
		now := time.Now().UTC()
		j.State, j.Started, j.cancel, start = JobRunning, &now, cancel, true
		q.saveLocked()
	})
	if !start {
		return
	}
	log.Info("job started", "sources", len(j.Targets))
	ids, err := q.ingest(ctx, j, log)
	q.s.joinCollection(j.Collection, ids) // before the job shows finished
	if errors.Is(err, context.Canceled) && q.ctx.Err() == nil {
		err = errCancelled
	}
	if q.ctx.Err() == nil { // a job cut by a shutdown keeps its uploads for the next start
		q.cleanFailedUploads(j) // before the job shows finished: a client may look at once
	}
	q.finish(j, ids, err)
	q.mu.Lock()
	snap := j.Job.clone()
	q.mu.Unlock()
	if snap.Finished != nil {
		log.Info("job finished", "state", snap.State, "done", snap.Done, "failed", snap.Failed,
			"documents", len(snap.Documents), "seconds", snap.Finished.Sub(*snap.Started).Seconds())
	}
}

// ingest runs the pipeline over j's targets, turning a panic in it into
// the job's failure rather than the server's.
func (q *jobQueue) ingest(ctx context.Context, j *job, log interface {
	Error(msg string, args ...any)
}) (ids []string, err error) {
	defer func() {
		if p := recover(); p != nil {
			log.Error("panic in ingest job", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			err = errors.New("internal error: the server log has the details")
		}
	}()
	return q.ing.Ingest(ctx, j.Targets, func(p Progress) {
		q.update(func() {
			j.Total = max(p.Total, len(j.Targets))
			j.Done, j.Failed = p.Done, p.Failed
			j.Current = j.display(p.Current)
			j.Stage, j.Step, j.Steps = p.Stage, p.Step, p.Steps
			j.Errors = j.displayErrors(p.Errors)
			j.Warnings = append(slices.Clone(j.Notes), j.displayErrors(p.Warnings)...)
		})
	})
}

func (q *jobQueue) finish(j *job, ids []string, err error) {
	q.update(func() {
		j.cancel = nil
		if err != nil && errors.Is(err, context.Canceled) && q.ctx.Err() != nil {
			// The server is stopping: the job stays unfinished in the
			// job file and runs again at the next start.
			j.State, j.Started = JobQueued, nil
			j.Notes = append(j.Notes, JobError{Error: "interrupted by a server shutdown: resumed at the next start"})
			j.Warnings = slices.Clone(j.Notes)
			return
		}
		now := time.Now().UTC()
		if j.Started == nil {
			j.Started = &now
		}
		j.Finished, j.Current, j.Stage, j.Step, j.Steps = &now, "", "", 0, 0
		if ids != nil {
			j.Documents = ids
		}
		switch {
		case errors.Is(err, errCancelled):
			j.Errors = append(j.Errors, JobError{Error: err.Error()})
			j.State = JobCancelled
		case err != nil:
			j.Errors = append(j.Errors, JobError{Error: j.displayText(err.Error())})
			j.State = JobFailed
		case j.Failed > 0 && j.Done == 0:
			j.State = JobFailed
		default:
			j.State = JobDone
		}
		q.saveLocked()
	})
}

// cleanFailedUploads removes the uploaded files that were not stored: they
// would otherwise fill the upload folder with what nobody can reach.
func (q *jobQueue) cleanFailedUploads(j *job) {
	if j.Kind != "upload" {
		return
	}
	for _, t := range j.Targets {
		q.s.removeUploadOf(q.ctx, t, j.ID)
	}
}

func (j *job) display(target string) string {
	if n, ok := j.Names[target]; ok {
		return n
	}
	return target
}

// displayText replaces upload paths, which tell the server's layout, by
// the names the client sent.
func (j *job) displayText(s string) string {
	for t, n := range j.Names {
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
		s.fail(w, r, http.StatusNotFound, "no job "+r.PathValue("id")+" ("+errNoJob.Error()+")")
		return
	}
	writeJSON(w, http.StatusOK, j)
}

func (s *Server) handleJobs(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"jobs": s.jobs.list()})
}

// handleCancelJob stops a queued or running job: 200 with the job once
// cancelled, 202 while a running one stops, 409 when it had finished.
func (s *Server) handleCancelJob(w http.ResponseWriter, r *http.Request) {
	j, unfinished, err := s.jobs.cancelJob(r.PathValue("id"))
	switch {
	case err != nil:
		s.fail(w, r, http.StatusNotFound, err.Error())
	case !unfinished:
		s.fail(w, r, http.StatusConflict, "job "+j.ID+" has already finished ("+j.State+")")
	case j.State == JobCancelled:
		writeJSON(w, http.StatusOK, j)
	default:
		s.log.Info("job cancel asked", "request_id", RequestID(r.Context()), "job", j.ID)
		writeJSON(w, http.StatusAccepted, j)
	}
}
