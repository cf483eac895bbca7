package imap

import (
	"strings"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/authsmtp/authsmtp/store"
)

// List answers LIST (with the RFC 5258 selection and return options,
// SPECIAL-USE and LIST-STATUS) and LSUB.
func (s *session) List(w *imapserver.ListWriter, ref string, patterns []string, options *goimap.ListOptions) error {
	if len(patterns) == 0 {
		// The empty pattern (go-imap drops it) asks for the hierarchy
		// delimiter and root.
		return w.WriteList(&goimap.ListData{Attrs: []goimap.MailboxAttr{goimap.MailboxAttrNoSelect}, Delim: store.MailboxDelim, Mailbox: ""})
	}
	mbs, err := s.st.ListMailboxes(s.user)
	if err != nil {
		return s.fail("LIST", err, false)
	}
	names := make(map[string]bool, len(mbs))
	for _, mb := range mbs {
		names[mb.Name] = true
	}
	for i := range mbs {
		mb := &mbs[i]
		if !matchAny(mb.Name, ref, patterns) {
			continue
		}
		if options.SelectSubscribed && !mb.Subscribed {
			continue
		}
		if options.SelectSpecialUse && mb.SpecialUse == "" {
			continue
		}
		d := &goimap.ListData{Delim: store.MailboxDelim, Mailbox: mb.Name}
		if hasChild(mb.Name, mbs) {
			d.Attrs = append(d.Attrs, goimap.MailboxAttrHasChildren)
		} else {
			d.Attrs = append(d.Attrs, goimap.MailboxAttrHasNoChildren)
		}
		if mb.Subscribed && (options.ReturnSubscribed || options.SelectSubscribed) {
			d.Attrs = append(d.Attrs, goimap.MailboxAttrSubscribed)
		}
		if mb.SpecialUse != "" {
			d.Attrs = append(d.Attrs, goimap.MailboxAttr(mb.SpecialUse))
		}
		if options.ReturnStatus != nil {
			st, err := s.status(mb, options.ReturnStatus)
			if err != nil {
				return err
			}
			d.Status = st
		}
		if err := w.WriteList(d); err != nil {
			return err
		}
	}
	return nil
}

func matchAny(name, ref string, patterns []string) bool {
	for _, p := range patterns {
		if imapserver.MatchList(name, store.MailboxDelim, ref, p) {
			return true
		}
		// INBOX matches without regard to case.
		if name == "INBOX" && imapserver.MatchList("inbox", store.MailboxDelim, strings.ToLower(ref), strings.ToLower(p)) {
			return true
		}
	}
	return false
}

func hasChild(name string, mbs []store.Mailbox) bool {
	prefix := name + string(store.MailboxDelim)
	for _, mb := range mbs {
		if strings.HasPrefix(mb.Name, prefix) {
			return true
		}
	}
	return false
}
