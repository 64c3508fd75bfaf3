package hnsw

import (
	"slices"
	"sync/atomic"

	"mmrag/store/vecmath"
)

// Orphans. The neighbour heuristic prunes full link lists, and a node can
// lose its last ground-layer in-link that way (or never get one): no search
// reaches it again, so even its own vector does not find it — measured on
// 43 000 CLIP-like vectors inserted in batches of 256, one node in 6 000
// probed. The index counts every node's ground-layer in-links as lists
// change, and after each Add links each orphan from its nearest node.

// linked counts a new ground-layer link to id.
func (x *Index) linked(id uint32) { atomic.AddInt32(&x.indeg[id], 1) }

// unlinked counts a ground-layer link to id gone, noting id when it was
// the last.
func (x *Index) unlinked(id uint32) {
	if atomic.AddInt32(&x.indeg[id], -1) == 0 {
		x.orphanMu.Lock()
		x.orphans = append(x.orphans, id)
		x.orphanMu.Unlock()
	}
}

// relinked counts the change of a full ground-layer list from old (before
// id was offered) to sel.
func (x *Index) relinked(old []uint32, id uint32, sel []cand) {
	kept := func(n uint32) bool { return slices.ContainsFunc(sel, func(c cand) bool { return c.id == n }) }
	if kept(id) {
		x.linked(id)
	}
	for _, e := range old {
		if !kept(e) {
			x.unlinked(e)
		}
	}
}

// countInLinks rebuilds the in-link counts from the ground layer (after Load).
func (x *Index) countInLinks() {
	x.indeg = make([]int32, len(x.level))
	n := x.m0() + 1
	for id := range x.level {
		lst := x.links0[id*n : (id+1)*n]
		for _, nb := range lst[1 : 1+lst[0]] {
			x.indeg[nb]++
		}
	}
}

// repairOrphans links every live node without a ground-layer in-link,
// among those noted and the nodes from first on, from the nearest node
// that can take it. It runs after a batch, with no insert under way.
func (x *Index) repairOrphans(first uint32) {
	todo := x.orphans
	x.orphans = nil
	for id := first; id < uint32(len(x.level)); id++ {
		if x.indeg[id] == 0 {
			todo = append(todo, id)
		}
	}
	if len(todo) == 0 {
		return
	}
	slices.Sort(todo)
	todo = slices.Compact(todo)
	w := x.newWorker()
	for _, o := range todo {
		if x.indeg[o] == 0 && !x.dead[o] && o != x.entry {
			x.adopt(w, o)
		}
	}
}

// adopt gives orphan o an in-link from the nearest node whose list has
// room or holds a link it can spare (to a node linked from elsewhere too,
// so no new orphan is made).
func (x *Index) adopt(w *worker, o uint32) {
	q := x.code(o)
	cur := cand{x.score(q, x.entry), x.entry}
	for l := x.top; l > 0; l-- {
		cur = x.greedy(w, q, cur, l, false)
	}
	other := func(n uint32) bool { return n != o && !x.dead[n] }
	limit := x.m0()
	for _, c := range x.searchLayer(w, q, []cand{cur}, x.cfg.EfConstruction, 0, other, false) {
		lst := x.list(c.id, 0)
		cnt := int(lst[0])
		if slices.Contains(lst[1:1+cnt], o) {
			return
		}
		if cnt < limit {
			lst[1+cnt] = o
			lst[0]++
			x.indeg[o]++
			return
		}
		// Replace the weakest link whose target keeps another in-link.
		nc := x.code(c.id)
		worst, at := int32(0), -1
		for i, e := range lst[1 : 1+cnt] {
			if x.indeg[e] < 2 {
				continue
			}
			if s := vecmath.DotInt8(nc, x.code(e)); at < 0 || s < worst {
				worst, at = s, i
			}
		}
		if at >= 0 {
			x.indeg[lst[1+at]]--
			lst[1+at] = o
			x.indeg[o]++
			return
		}
	}
}
