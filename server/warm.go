package server

import (
	"context"
	"sync"
	"time"
)

// warmState is how far the models' warm-up (Config.Warm) got.
type warmState struct {
	mu      sync.Mutex
	started bool
	done    bool
	err     string // what failed, as the settings report it
}

// warm runs Config.Warm once in the background: the server listens at
// once, and settings say "ready" when it is done.
func (s *Server) warm(ctx context.Context) {
	if s.cfg.Warm == nil {
		return
	}
	s.warmth.mu.Lock()
	if s.warmth.started {
		s.warmth.mu.Unlock()
		return
	}
	s.warmth.started = true
	s.warmth.mu.Unlock()
	go func() {
		start := time.Now()
		err := s.cfg.Warm(ctx)
		s.warmth.mu.Lock()
		s.warmth.done = true
		if err != nil {
			s.warmth.err = err.Error()
		}
		s.warmth.mu.Unlock()
		if err != nil {
			s.log.Warn("models not loaded ahead: they load on first use", "err", err, "seconds", time.Since(start).Seconds())
			return
		}
		s.log.Info("models loaded", "seconds", time.Since(start).Seconds())
	}()
}

// ready says whether the warm-up is over (there is none, it finished, or
// it failed), and what failed.
func (s *Server) ready() (bool, string) {
	if s.cfg.Warm == nil {
		return true, ""
	}
	s.warmth.mu.Lock()
	defer s.warmth.mu.Unlock()
	return s.warmth.done, s.warmth.err
}
