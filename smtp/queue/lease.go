package queue

import "time"

// Leases (see the package doc and store/queue_lease.go): r.leases counts,
// per entry, the in-flight (entry, destination) keys of this runner; the
// store lease is claimed before the first and released after the last.
// r.mu guards inflight and leases.

// claim claims ids for this node and returns the set it got.
func (r *Runner) claim(ids []string) (map[string]bool, error) {
	got, err := r.st.ClaimQueue(r.cfg.Node, ids, time.Now().Add(r.cfg.Lease))
	if err != nil {
		return nil, err
	}
	m := make(map[string]bool, len(got))
	for _, id := range got {
		m[id] = true
	}
	return m, nil
}

// hold marks (id, dest) in flight under a claimed lease; false when a job
// already holds it. Call with r.mu held.
func (r *Runner) hold(id, dest string) bool {
	k := id + "\x00" + dest
	if r.inflight[k] {
		return false
	}
	r.inflight[k] = true
	r.leases[id]++
	return true
}

// drop ends (id, dest) in flight and reports whether it was the last key
// holding id's lease. Call with r.mu held.
func (r *Runner) drop(id, dest string) bool {
	k := id + "\x00" + dest
	if !r.inflight[k] {
		return false
	}
	delete(r.inflight, k)
	r.leases[id]--
	if r.leases[id] > 0 {
		return false
	}
	delete(r.leases, id)
	return true
}

// unheld returns the claimed ids no job holds (claimed, then left out).
// Call with r.mu held.
func (r *Runner) unheld(claimed map[string]bool) []string {
	var out []string
	for id := range claimed {
		if r.leases[id] == 0 {
			out = append(out, id)
		}
	}
	return out
}

// release gives the leases of ids back, so any node may deliver what is
// left of them at once. A failure only delays that until the lease lapses.
func (r *Runner) release(ids []string) {
	if len(ids) == 0 {
		return
	}
	if err := r.st.ReleaseQueue(r.cfg.Node, ids); err != nil {
		r.log.Warn("releasing queue leases", "n", len(ids), "err", err)
	}
}

// renewLoop extends the leases of what is in flight every third of the
// lease, until Stop.
func (r *Runner) renewLoop() {
	defer r.loopWG.Done()
	t := time.NewTicker(r.cfg.Lease / 3)
	defer t.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-t.C:
		}
		r.mu.Lock()
		ids := make([]string, 0, len(r.leases))
		for id := range r.leases {
			ids = append(ids, id)
		}
		r.mu.Unlock()
		if len(ids) == 0 {
			continue
		}
		lost, err := r.st.RenewQueueLeases(r.cfg.Node, ids, time.Now().Add(r.cfg.Lease))
		if err != nil {
			r.log.Warn("renewing queue leases", "n", len(ids), "err", err)
			continue
		}
		for _, id := range lost {
			r.mu.Lock()
			still := r.leases[id] > 0
			r.mu.Unlock()
			if still {
				// Finished meanwhile, or another node took it over after a
				// lapse: sendAll leaves it alone at its next message.
				r.log.Debug("queue lease lost", "id", id, "node", r.cfg.Node)
			}
		}
	}
}
