package app

import (
	"errors"
	"fmt"
	"slices"

	"mmrag"
	"mmrag/retrieve"
)

// ErrInvalid is wrapped by refusals of malformed requests: a caller's
// mistake, not the service's.
var ErrInvalid = errors.New("invalid request")

// SearchOptions are what a caller may change of the search; nil and zero
// fields keep the defaults (the service's, or those of Mode when it names
// another scoring).
type SearchOptions struct {
	Mode string // reference, cosine or hybrid
	// TextK and ImageK cap each list; 0 leaves that modality out.
	TextK, ImageK                 *int
	TextThreshold, ImageThreshold *float64
	TextTemperature, ImageTemp    *float64 // softmax temperatures (reference scoring)
	Pool                          int      // softmax over the Pool best instead of the whole collection
	NormalizeQuery                bool
	KeepDuplicateImages           bool
	KeepDuplicatePassages         bool
	Filter                        mmrag.Filter
	// Collections, when set, keeps to the documents of these collections
	// (of any of them), within Filter.DocIDs when that is set too.
	Collections []string
}

// zero says whether o changes nothing.
func (o SearchOptions) zero() bool {
	return o.Mode == "" && o.TextK == nil && o.ImageK == nil && o.TextThreshold == nil && o.ImageThreshold == nil &&
		o.TextTemperature == nil && o.ImageTemp == nil && o.Pool == 0 && !o.NormalizeQuery && !o.KeepDuplicateImages && !o.KeepDuplicatePassages &&
		len(o.Filter.DocIDs) == 0 && len(o.Collections) == 0 && len(o.Filter.Types) == 0 && o.Filter.SourcePrefix == "" &&
		o.Filter.Since.IsZero() && o.Filter.Until.IsZero()
}

// SearchOptions resolves o against the service's defaults.
func (s *Service) SearchOptions(o SearchOptions) (retrieve.Options, error) {
	opt := s.Engine.Search
	if opt.Mode == "" {
		opt = retrieve.DefaultOptions(retrieve.DefaultMode)
	}
	if o.Mode != "" && retrieve.Mode(o.Mode) != opt.Mode {
		if !slices.Contains(retrieve.Modes(), retrieve.Mode(o.Mode)) {
			return opt, fmt.Errorf("%w: scoring %q: want one of %v", ErrInvalid, o.Mode, retrieve.Modes())
		}
		opt = retrieve.DefaultOptions(retrieve.Mode(o.Mode))
	}
	if err := modalities(&opt, o.TextK, o.ImageK); err != nil {
		return opt, err
	}
	setF := func(dst *float64, v *float64) {
		if v != nil {
			*dst = *v
		}
	}
	setF(&opt.Text.Threshold, o.TextThreshold)
	setF(&opt.Images.Threshold, o.ImageThreshold)
	setF(&opt.Text.Temperature, o.TextTemperature)
	setF(&opt.Images.Temperature, o.ImageTemp)
	if o.Pool > 0 {
		opt.Text.Pool, opt.Images.Pool = o.Pool, o.Pool
	}
	opt.NormalizeQuery = opt.NormalizeQuery || o.NormalizeQuery
	opt.KeepDuplicateImages = opt.KeepDuplicateImages || o.KeepDuplicateImages
	opt.KeepDuplicatePassages = opt.KeepDuplicatePassages || o.KeepDuplicatePassages
	opt.Filter = o.Filter
	return opt, nil
}

// modalities applies the caps: a cap of 0 searches the other modality
// only, and both at 0 is a request for nothing.
func modalities(opt *retrieve.Options, textK, imageK *int) error {
	opt.Modalities = nil
	if textK != nil && imageK != nil && *textK == 0 && *imageK == 0 {
		return fmt.Errorf("%w: text k and image k are both 0: nothing to search", ErrInvalid)
	}
	for _, c := range []struct {
		k     *int
		dst   *int
		other mmrag.Modality
	}{{textK, &opt.Text.K, mmrag.Image}, {imageK, &opt.Images.K, mmrag.Text}} {
		switch {
		case c.k == nil:
		case *c.k < 0:
			return fmt.Errorf("%w: k %d is negative", ErrInvalid, *c.k)
		case *c.k == 0:
			opt.Modalities = []mmrag.Modality{c.other}
		default:
			*c.dst = *c.k
		}
	}
	return nil
}
