package store

import (
	"strings"
	"sync"
	"time"

	"github.com/authsmtp/authsmtp/store/kv"

	"github.com/authsmtp/authsmtp/store/junk"
)

// The junk filter learns from what users do, in this one place whatever
// the client (IMAP, webmail, the CLI):
//
//   - a message copied or moved into Junk is trained as spam;
//   - a message moved or copied out of Junk, to any folder but Trash, is
//     trained as ham, which retracts its spam training;
//   - the $Junk and $NotJunk keywords (set by Thunderbird and others) train
//     spam and ham;
//   - a message the user answers (\Answered set) is ham, and so is the
//     user's own sent mail, whose recipients also become the user's
//     contacts (the reputation that keeps their replies out of Junk).
//
// Training runs after the mailbox change has committed, never inside it;
// a training that fails is logged and the mailbox change stands.

// IsJunkMailbox reports whether mb is the user's Junk folder.
func IsJunkMailbox(mb *Mailbox) bool {
	return mb.SpecialUse == `\Junk` || strings.EqualFold(mb.Name, "Junk")
}

func isTrashMailbox(mb *Mailbox) bool {
	return mb.SpecialUse == `\Trash` || strings.EqualFold(mb.Name, "Trash")
}

// filedClass is what filing a message from src into dst teaches.
func filedClass(src, dst *Mailbox) junk.Class {
	switch {
	case IsJunkMailbox(dst) && !IsJunkMailbox(src):
		return junk.Spam
	case IsJunkMailbox(src) && !IsJunkMailbox(dst) && !isTrashMailbox(dst):
		return junk.Ham
	}
	return junk.None
}

// learn trains the bodies for the user at addr as class c.
func (s *Store) learn(addr string, c junk.Class, bodyIDs []uint64) {
	if c == junk.None || len(bodyIDs) == 0 {
		return
	}
	now := time.Now().UTC()
	for _, id := range bodyIDs {
		body, err := s.Body(id)
		if err != nil {
			s.log.Warn("junk training: reading message", "user", addr, "err", err)
			continue
		}
		if _, err := s.Junk.Train(addr, body, c, now); err != nil {
			s.log.Error("junk training", "user", addr, "class", c.String(), "err", err)
			return
		}
	}
	s.log.Info("junk filter trained", "user", addr, "class", c.String(), "messages", len(bodyIDs))
}

// TrainJunk trains raw messages for the user at address (the CLI's
// `user junk train`); it returns how many changed the model.
func (s *Store) TrainJunk(address string, c junk.Class, msgs [][]byte) (int, error) {
	addr, err := NormalizeAddress(address)
	if err != nil {
		return 0, err
	}
	n := 0
	now := time.Now().UTC()
	for _, m := range msgs {
		ch, err := s.Junk.Train(addr, m, c, now)
		if err != nil {
			return n, err
		}
		if ch {
			n++
		}
	}
	return n, nil
}

// learnSent runs in the background after a submission committed: the
// sender's own mail is ham, and its recipients are the sender's contacts.
func (s *Store) learnSent(in *Incoming) {
	login, err := NormalizeAddress(in.Login)
	if err != nil || in.DSN || in.From == "" || !strings.Contains(in.Login, "@") {
		return // a domain login has no filter; auto-replies and bounces teach nothing
	}
	var contacts []string
	for _, r := range in.Local {
		contacts = append(contacts, r.Address, "@"+DomainOf(r.Address))
	}
	for _, r := range in.Remote {
		contacts = append(contacts, strings.ToLower(r), "@"+DomainOf(r))
	}
	now := time.Now().UTC()
	contacts = s.sentLearning.newContacts(login, contacts, now)
	train := s.sentLearning.takeSample(login, now)
	if len(contacts) == 0 && !train {
		return // nothing new: no write competes with the mail flow
	}
	body := in.Body
	select {
	case <-s.junkDone:
	case s.junkWork <- func() {
		if len(contacts) > 0 {
			if err := s.Junk.AddContacts(login, contacts, now); err != nil {
				s.log.Warn("junk filter: noting contacts", "user", login, "err", err)
			}
		}
		if train {
			if _, err := s.Junk.Train(login, body, junk.Ham, now); err != nil {
				s.log.Warn("junk filter: training sent mail", "user", login, "err", err)
			}
		}
	}:
	default: // busy: this message goes untrained, the mail flow never waits
	}
}

// sentLearning keeps learning from sent mail cheap under load. Training a
// message writes hundreds of token counts in one write transaction, which
// holds bbolt's single writer lock against every submission's commit; a
// sender's own words are learnt well enough from a sample. So a user's
// sent mail trains ham at most once per sentSampleEvery, and a contact is
// written only when it was not noted in the last sentContactTTL.
type sentLearning struct {
	mu       sync.Mutex
	lastRun  map[string]time.Time // login → last sent message trained
	noted    map[string]time.Time // login + "\x00" + contact → when written
	capacity int
}

const (
	sentSampleEvery = time.Minute
	sentContactTTL  = time.Hour
)

func newSentLearning() *sentLearning {
	return &sentLearning{lastRun: map[string]time.Time{}, noted: map[string]time.Time{}, capacity: 100000}
}

// takeSample reports whether this sent message of login is the one to train.
func (l *sentLearning) takeSample(login string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t, ok := l.lastRun[login]; ok && now.Sub(t) < sentSampleEvery {
		return false
	}
	if len(l.lastRun) >= l.capacity {
		clear(l.lastRun)
	}
	l.lastRun[login] = now
	return true
}

// newContacts returns the contacts of login not written recently, and
// marks them written.
func (l *sentLearning) newContacts(login string, contacts []string, now time.Time) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.noted) >= l.capacity {
		clear(l.noted)
	}
	var fresh []string
	for _, c := range contacts {
		k := login + "\x00" + c
		if t, ok := l.noted[k]; ok && now.Sub(t) < sentContactTTL {
			continue
		}
		l.noted[k] = now
		fresh = append(fresh, c)
	}
	return fresh
}

// junkWorker runs background training one job at a time.
func (s *Store) junkWorker() {
	for {
		select {
		case fn := <-s.junkWork:
			fn()
		case <-s.junkDone:
			return
		}
	}
}

// removeJunkModel forgets a removed user's filter (inside the removal's tx).
func removeJunkModel(tx kv.Tx, address string) error {
	return junk.DeleteModelTx(tx, junk.UserModel(address))
}

// flagClass is what a flag change on one message teaches: $Junk spam;
// $NotJunk, or \Answered outside Junk, ham.
func flagClass(mb *Mailbox, oldBits, newBits byte, oldKws, newKws []string) junk.Class {
	added := func(kw string) bool { return containsFold(newKws, kw) && !containsFold(oldKws, kw) }
	switch {
	case added("$Junk"):
		return junk.Spam
	case added("$NotJunk"):
		return junk.Ham
	case newBits&flagAnswered != 0 && oldBits&flagAnswered == 0 && !IsJunkMailbox(mb):
		return junk.Ham
	}
	return junk.None
}
