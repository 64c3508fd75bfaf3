package hnsw

import (
	"slices"

	"mmrag/store/vecmath"
)

// cand is a node and its int8 score against the current query.
type cand struct {
	s  int32
	id uint32
}

// byBest orders candidates best first, ties by id.
func byBest(a, b cand) int {
	if a.s != b.s {
		if a.s > b.s {
			return -1
		}
		return 1
	}
	return int(a.id) - int(b.id)
}

// heap is a binary heap of candidates: the best at the root when best is
// set, the worst otherwise.
type heap struct {
	c    []cand
	best bool
}

func (h *heap) above(a, b cand) bool {
	if h.best {
		return a.s > b.s
	}
	return a.s < b.s
}

func (h *heap) push(c cand) {
	h.c = append(h.c, c)
	i := len(h.c) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !h.above(h.c[i], h.c[p]) {
			break
		}
		h.c[i], h.c[p] = h.c[p], h.c[i]
		i = p
	}
}

func (h *heap) pop() cand {
	top := h.c[0]
	last := len(h.c) - 1
	h.c[0] = h.c[last]
	h.c = h.c[:last]
	i := 0
	for {
		l := 2*i + 1
		if l >= last {
			break
		}
		c := l
		if r := l + 1; r < last && h.above(h.c[r], h.c[l]) {
			c = r
		}
		if !h.above(h.c[c], h.c[i]) {
			break
		}
		h.c[i], h.c[c] = h.c[c], h.c[i]
		i = c
	}
	return top
}

// list returns the link list of id on layer l: a count, then the slots.
func (x *Index) list(id uint32, l int) []uint32 {
	if l == 0 {
		n := x.m0() + 1
		return x.links0[int(id)*n : (int(id)+1)*n]
	}
	n := x.cfg.M + 1
	return x.upper[id][(l-1)*n : l*n]
}

// neighbours returns the links of id on layer l. While a batch is inserted
// (locked) they are copied out under the list's lock into w.nbuf, valid
// until the next call.
func (x *Index) neighbours(w *worker, id uint32, l int, locked bool) []uint32 {
	if !locked {
		lst := x.list(id, l)
		return lst[1 : 1+lst[0]]
	}
	mu := &x.stripes[id%uint32(len(x.stripes))]
	mu.Lock()
	lst := x.list(id, l)
	w.nbuf = append(w.nbuf[:0], lst[1:1+lst[0]]...)
	mu.Unlock()
	return w.nbuf
}

// greedy walks layer l from ep to the node nearest q it can reach by
// always moving to a better neighbour.
func (x *Index) greedy(w *worker, q []int8, ep cand, l int, locked bool) cand {
	cur := ep
	for changed := true; changed; {
		changed = false
		for _, nb := range x.neighbours(w, cur.id, l, locked) {
			if s := x.score(q, nb); s > cur.s {
				cur, changed = cand{s, nb}, true
			}
		}
	}
	return cur
}

// searchLayer is the beam search of layer l from eps: it returns up to ef
// of the nodes nearest q that keep (nil: all) accepts, best first. Nodes
// keep refuses are still walked through.
func (x *Index) searchLayer(w *worker, q []int8, eps []cand, ef, l int, keep func(uint32) bool, locked bool) []cand {
	w.visit()
	w.cands.best, w.found.best = true, false
	w.cands.c, w.found.c = w.cands.c[:0], w.found.c[:0]
	for _, e := range eps {
		if w.marks[e.id] == w.gen {
			continue
		}
		w.marks[e.id] = w.gen
		w.cands.push(e)
		if keep == nil || keep(e.id) {
			w.found.push(e)
		}
	}
	for len(w.found.c) > ef {
		w.found.pop()
	}
	for len(w.cands.c) > 0 {
		c := w.cands.pop()
		if len(w.found.c) >= ef && c.s < w.found.c[0].s {
			break
		}
		for _, nb := range x.neighbours(w, c.id, l, locked) {
			if w.marks[nb] == w.gen {
				continue
			}
			w.marks[nb] = w.gen
			s := x.score(q, nb)
			if len(w.found.c) >= ef && s <= w.found.c[0].s {
				continue
			}
			w.cands.push(cand{s, nb})
			if keep == nil || keep(nb) {
				w.found.push(cand{s, nb})
				if len(w.found.c) > ef {
					w.found.pop()
				}
			}
		}
	}
	out := slices.Clone(w.found.c)
	slices.SortFunc(out, byBest)
	return out
}

// insert links node id into the graph: down the layers above its own by
// greedy walks, then on each of its layers to the neighbours the heuristic
// picks among efConstruction candidates, and those back to it.
func (x *Index) insert(w *worker, id uint32) {
	q := x.code(id)
	lvl := int(x.level[id])
	x.entryMu.Lock()
	ep, top := x.entry, x.top
	raise := lvl > top
	if !raise {
		x.entryMu.Unlock()
	}
	cur := cand{x.score(q, ep), ep}
	for l := top; l > lvl; l-- {
		cur = x.greedy(w, q, cur, l, true)
	}
	linkable := func(n uint32) bool { return n != id && !x.dead[n] }
	eps := []cand{cur}
	for l := min(lvl, top); l >= 0; l-- {
		found := x.searchLayer(w, q, eps, x.cfg.EfConstruction, l, linkable, true)
		nbrs := x.selectNeighbours(found, x.cfg.M)
		x.setLinks(id, l, nbrs)
		for _, n := range nbrs {
			x.link(n.id, id, n.s, l)
		}
		if len(found) > 0 {
			eps = found
		}
	}
	if raise {
		x.entry, x.top = id, lvl
		x.entryMu.Unlock()
	}
}

// selectNeighbours is the HNSW heuristic: walking the candidates best
// first, keep one unless it is nearer to a node already kept than to the
// query, up to m. It spreads links over directions instead of crowding
// them into one cluster.
func (x *Index) selectNeighbours(found []cand, m int) []cand {
	res := make([]cand, 0, m)
	for _, c := range found {
		if len(res) >= m {
			break
		}
		cc := x.code(c.id)
		ok := true
		for _, r := range res {
			if vecmath.DotInt8(cc, x.code(r.id)) > c.s {
				ok = false
				break
			}
		}
		if ok {
			res = append(res, c)
		}
	}
	return res
}

func (x *Index) setLinks(id uint32, l int, nbrs []cand) {
	mu := &x.stripes[id%uint32(len(x.stripes))]
	mu.Lock()
	lst := x.list(id, l)
	// Another insert may have linked to this node already (it was
	// reachable on an upper layer): those links stay after nbrs while
	// there is room.
	old := slices.Clone(lst[1 : 1+lst[0]])
	n := 0
	for _, c := range nbrs {
		lst[1+n] = c.id
		n++
		if l == 0 && !slices.Contains(old, c.id) {
			x.linked(c.id)
		}
	}
	for _, e := range old {
		switch {
		case slices.Contains(lst[1:1+n], e):
		case n < len(lst)-1:
			lst[1+n] = e
			n++
		case l == 0:
			x.unlinked(e)
		}
	}
	lst[0] = uint32(n)
	mu.Unlock()
}

// link adds id (score s against n) to the layer-l list of n; a full list
// is pruned by the heuristic, which may drop id or an older link.
func (x *Index) link(n, id uint32, s int32, l int) {
	limit := x.cfg.M
	if l == 0 {
		limit = x.m0()
	}
	mu := &x.stripes[n%uint32(len(x.stripes))]
	mu.Lock()
	defer mu.Unlock()
	lst := x.list(n, l)
	cnt := int(lst[0])
	if slices.Contains(lst[1:1+cnt], id) {
		return
	}
	if cnt < limit {
		lst[1+cnt] = id
		lst[0]++
		if l == 0 {
			x.linked(id)
		}
		return
	}
	nc := x.code(n)
	cs := make([]cand, 0, cnt+1)
	for _, e := range lst[1 : 1+cnt] {
		cs = append(cs, cand{vecmath.DotInt8(nc, x.code(e)), e})
	}
	cs = append(cs, cand{s, id})
	slices.SortFunc(cs, byBest)
	sel := x.selectNeighbours(cs, limit)
	if l == 0 {
		x.relinked(lst[1:1+cnt], id, sel)
	}
	lst[0] = uint32(len(sel))
	for i, c := range sel {
		lst[1+i] = c.id
	}
}
