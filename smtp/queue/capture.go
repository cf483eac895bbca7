package queue

import (
	"errors"

	"github.com/authsmtp/authsmtp/store"
)

// fileCaptured puts a copy of each captured message of a user login into
// that user's "Captured" IMAP folder, once: demo users read what they
// "sent" in their own mail client. Domain logins have no mailbox; their
// captured mail is shown by `authsmtp queue captured`. The copy and the
// mark are one transaction (store.FileCaptured): never filed twice, not
// even by two nodes, never skipped.
func (r *Runner) fileCaptured() {
	entries, err := r.st.UnfiledCaptured()
	if err != nil {
		r.log.Error("reading captured mail", "err", err)
		return
	}
	for _, q := range entries {
		if r.ctx.Err() != nil {
			return
		}
		// One transaction files the copy and marks the entry, so of the
		// nodes that all see it unfiled only one files it.
		if _, err := r.st.FileCaptured(q.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			r.log.Error("filing captured mail", "id", q.ID, "login", q.Login, "err", err)
		}
	}
}
