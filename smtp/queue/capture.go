package queue

import (
	"strings"

	"github.com/authsmtp/authsmtp/store"
)

// fileCaptured puts a copy of each captured message of a user login into
// that user's "Captured" IMAP folder, once: demo users read what they
// "sent" in their own mail client. Domain logins have no mailbox; their
// captured mail is shown by `authsmtp queue captured`. The copy is made
// before the entry is marked filed, so a crash can file it twice but never
// skip it.
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
		if strings.Contains(q.Login, "@") {
			if _, err := r.st.GetUser(q.Login); err == nil {
				body, err := r.st.Body(q.BodyID)
				if err != nil {
					r.log.Error("reading captured body", "id", q.ID, "err", err)
					continue
				}
				_, err = r.st.Accept(&store.Incoming{From: q.From, Login: q.Login, Body: body, Subject: q.Subject,
					Local: []store.LocalRcpt{{Address: q.Login, Mailbox: "Captured"}}})
				if err != nil {
					r.log.Error("filing captured mail", "id", q.ID, "login", q.Login, "err", err)
					continue
				}
			}
		}
		if err := r.st.UpdateQueue(q.ID, func(e *store.QueueEntry) error {
			e.Filed = true
			return nil
		}); err != nil {
			r.log.Error("marking captured mail filed", "id", q.ID, "err", err)
		}
	}
}
