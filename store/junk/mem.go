package junk

import (
	"sync"
	"time"
)

// MemStore keeps models in memory: for evaluations and tests, and as the
// reference for what a Store must do.
type MemStore struct {
	mu     sync.Mutex
	models map[string]*memModel
}

type memModel struct {
	tot      Totals
	tokens   map[string]Count
	msgs     map[[32]byte]Class
	contacts map[string]bool
}

var _ Store = (*MemStore)(nil)

// NewMemStore makes an empty MemStore.
func NewMemStore() *MemStore { return &MemStore{models: map[string]*memModel{}} }

func (s *MemStore) model(name string) *memModel {
	m := s.models[name]
	if m == nil {
		m = &memModel{tokens: map[string]Count{}, msgs: map[[32]byte]Class{}, contacts: map[string]bool{}}
		s.models[name] = m
	}
	return m
}

func (s *MemStore) Counts(model string, tokens []string) (Totals, []Count, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.model(model)
	out := make([]Count, len(tokens))
	for i, t := range tokens {
		out[i] = m.tokens[t]
	}
	return m.tot, out, nil
}

func (s *MemStore) Train(models []string, key [32]byte, c Class, tokens []string, now time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	changed := false
	for i, name := range models {
		m := s.model(name)
		old := m.msgs[key]
		if old == c {
			continue
		}
		if i == 0 {
			changed = true
		}
		for _, t := range tokens {
			n := m.tokens[t]
			memBump(&n, old, -1)
			memBump(&n, c, +1)
			if n == (Count{}) {
				delete(m.tokens, t)
			} else {
				m.tokens[t] = n
			}
		}
		bump(&m.tot, old, -1)
		bump(&m.tot, c, +1)
		m.tot.LastTrained = now
		if c == None {
			delete(m.msgs, key)
		} else {
			m.msgs[key] = c
		}
	}
	return changed, nil
}

func memBump(n *Count, c Class, d int) {
	switch c {
	case Ham:
		n.Ham = max(n.Ham+d, 0)
	case Spam:
		n.Spam = max(n.Spam+d, 0)
	}
}

func (s *MemStore) Totals(model string) (Totals, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.model(model).tot, nil
}

func (s *MemStore) Reset(model string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.models, model)
	return nil
}

func (s *MemStore) AddContacts(model string, contacts []string, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.model(model)
	for _, c := range contacts {
		m.contacts[c] = true
	}
	return nil
}

func (s *MemStore) HasContact(model string, contacts []string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.model(model)
	for _, c := range contacts {
		if m.contacts[c] {
			return true, nil
		}
	}
	return false, nil
}
