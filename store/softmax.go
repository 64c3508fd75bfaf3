package store

import "math"

// Softmax accumulates the denominator of softmax(score/T) over a stream of
// scores in float64: Sum = Σ exp((score − Max)/T), Max the largest score
// seen, N the scores counted. It lets a scan over a whole collection keep
// only the best hits yet give each its exact softmax probability,
// exp((score − Max)/T) / Sum, without a second pass or every score kept.
//
// Its zero value needs T set before use; N == 0 means no score was added.
type Softmax struct {
	T   float64 // temperature, > 0
	Max float64
	Sum float64
	N   int
}

// Add counts one score. When it exceeds Max the sum so far is rescaled to
// the new maximum, so no exponential ever overflows.
func (a *Softmax) Add(score float32) {
	x := float64(score)
	if a.N == 0 {
		a.Max, a.Sum, a.N = x, 1, 1
		return
	}
	a.N++
	if x > a.Max {
		a.Sum = a.Sum*math.Exp((a.Max-x)/a.T) + 1
		a.Max = x
		return
	}
	a.Sum += math.Exp((x - a.Max) / a.T)
}

// Merge adds the scores b counted (at the same temperature) to a.
func (a *Softmax) Merge(b Softmax) {
	switch {
	case b.N == 0:
		return
	case a.N == 0:
		*a = b
		return
	}
	m := max(a.Max, b.Max)
	a.Sum = a.Sum*math.Exp((a.Max-m)/a.T) + b.Sum*math.Exp((b.Max-m)/a.T)
	a.Max = m
	a.N += b.N
}

// Term is exp((score − Max)/T), a score's share of Sum.
func (a *Softmax) Term(score float64) float64 { return math.Exp((score - a.Max) / a.T) }

// Replace swaps one counted score for another (the same item rescored more
// precisely): Sum loses old's term and gains new's.
func (a *Softmax) Replace(old, new float64) {
	a.Sum += a.Term(new) - a.Term(old)
}
