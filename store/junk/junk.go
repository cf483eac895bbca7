// Package junk is authsmtp's per-user Bayesian junk filter.
//
// A message is cut into features (Tokenize). Each user has a model: how
// many messages were trained as ham and as spam, and per feature in how
// many of each it occurred. A domain has a shared model trained by all of
// its users, which a user with too little training of their own falls
// back on. Scoring combines the feature probabilities the way
// SpamBayes and bogofilter do: Robinson's smoothed probability per
// feature, then Fisher's chi-square combining of the most telling
// features into one score in [0, 1].
//
// Training is idempotent per message: a model remembers which class each
// message (by a digest of its Message-ID and body) was trained as, so
// training it again as the same class changes nothing, and training it
// as the other class moves its counts over (the retraction a user makes
// by moving a message out of Junk).
//
// The statistics live behind the small Store interface; KVStore keeps
// them in the server's bbolt file.
package junk

import (
	"bytes"
	"crypto/sha256"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/authsmtp/authsmtp/store/mailparse"
)

// Class is what a message was trained as.
type Class byte

const (
	None Class = iota
	Ham
	Spam
)

func (c Class) String() string {
	switch c {
	case Ham:
		return "ham"
	case Spam:
		return "spam"
	}
	return "none"
}

// ParseClass reads "spam" or "ham".
func ParseClass(s string) (Class, bool) {
	switch strings.ToLower(s) {
	case "spam", "junk":
		return Spam, true
	case "ham", "notjunk", "nonjunk":
		return Ham, true
	}
	return None, false
}

// Totals is a model's training state.
type Totals struct {
	Ham, Spam   int       // messages trained per class
	LastTrained time.Time // zero: never
}

// Count is how many trained messages of each class held one feature.
type Count struct{ Ham, Spam int }

// Store keeps models. A model is named by a string (UserModel,
// DomainModel). Implementations are safe for concurrent use.
type Store interface {
	// Counts returns a model's totals and the counts of tokens (zero for
	// unknown ones), in the order of tokens.
	Counts(model string, tokens []string) (Totals, []Count, error)
	// Train records, in every model of models and in one transaction, that
	// the message with key is of class c (None forgets it). A model that
	// had the message as the other class first loses those counts (retrain);
	// one that had it as c is left alone. It reports whether the first
	// model changed.
	Train(models []string, key [32]byte, c Class, tokens []string, now time.Time) (bool, error)
	// Totals returns a model's training state.
	Totals(model string) (Totals, error)
	// Reset forgets a model.
	Reset(model string) error
	// AddContacts notes addresses (and "@domain"s) a model's user
	// exchanged mail with; HasContact reports whether any of contacts is
	// noted. They back the reputation rule: known correspondents never go
	// to Junk on the Bayes verdict alone.
	AddContacts(model string, contacts []string, now time.Time) error
	HasContact(model string, contacts []string) (bool, error)
}

// UserModel and DomainModel name the models of a user and of a domain.
func UserModel(address string) string  { return "u:" + strings.ToLower(address) }
func DomainModel(domain string) string { return "d:" + strings.ToLower(domain) }

// Config tunes a Filter; zero fields get the defaults in parentheses.
type Config struct {
	// MinTrained is how many messages of each class a model needs before
	// it decides anything (10).
	MinTrained int
	// Threshold is the score from which a message is spam (0.95).
	Threshold float64
	// Strength and Assumed are Robinson's s and x: how much a rare
	// feature is pulled towards the assumed probability (0.45, 0.5).
	Strength, Assumed float64
	// MinDev drops features whose probability is within this of 0.5 (0.1).
	MinDev float64
	// MaxClues is the most features combined per message (200).
	MaxClues int
}

func (c *Config) defaults() {
	if c.MinTrained <= 0 {
		c.MinTrained = 10
	}
	if c.Threshold <= 0 {
		c.Threshold = 0.95
	}
	if c.Strength <= 0 {
		c.Strength = 0.45
	}
	if c.Assumed <= 0 {
		c.Assumed = 0.5
	}
	if c.MinDev <= 0 {
		c.MinDev = 0.1
	}
	if c.MaxClues <= 0 {
		c.MaxClues = 200
	}
}

// Filter scores and trains messages against a Store.
type Filter struct {
	st  Store
	cfg Config
}

// New makes a Filter.
func New(st Store, cfg Config) *Filter {
	cfg.defaults()
	return &Filter{st: st, cfg: cfg}
}

// Config returns the filter's settings with the defaults filled in.
func (f *Filter) Config() Config { return f.cfg }

// Verdict is the filter's judgement of one message for one user.
type Verdict struct {
	// Score is the spam probability in [0, 1]; meaningful only if Model != "".
	Score float64
	// Spam is Score >= Threshold with a trained model.
	Spam bool
	// Model is "user" or "domain" for the model that judged, "" when
	// neither had enough training (then the filter decides nothing).
	Model string
	// Clues is how many features were combined.
	Clues int
}

// Trained reports whether t has enough training to decide.
func (f *Filter) Trained(t Totals) bool {
	return t.Ham >= f.cfg.MinTrained && t.Spam >= f.cfg.MinTrained
}

// Classify scores tokens (from Tokenize) for the user at address: by the
// user's own model, or the domain's when the user's is not trained yet.
func (f *Filter) Classify(address string, tokens []string) (Verdict, error) {
	tot, counts, err := f.st.Counts(UserModel(address), tokens)
	if err != nil {
		return Verdict{}, err
	}
	model := "user"
	if !f.Trained(tot) {
		_, domain, _ := strings.Cut(address, "@")
		tot, counts, err = f.st.Counts(DomainModel(domain), tokens)
		if err != nil {
			return Verdict{}, err
		}
		model = "domain"
		if !f.Trained(tot) {
			return Verdict{}, nil
		}
	}
	score, clues := f.combine(tot, counts)
	return Verdict{Score: score, Spam: score >= f.cfg.Threshold, Model: model, Clues: clues}, nil
}

// Ready reports whether Classify would judge for the user at address
// (the user's model or the domain's is trained), so a caller can skip
// tokenizing for users whose filter decides nothing yet.
func (f *Filter) Ready(address string) bool {
	if t, err := f.st.Totals(UserModel(address)); err == nil && f.Trained(t) {
		return true
	}
	_, domain, _ := strings.Cut(address, "@")
	t, err := f.st.Totals(DomainModel(domain))
	return err == nil && f.Trained(t)
}

// Train trains msg as class c for the user at address, and for the
// user's domain. It reports whether the user's model changed (false when
// the message was already trained as c).
func (f *Filter) Train(address string, msg []byte, c Class, now time.Time) (bool, error) {
	_, domain, _ := strings.Cut(address, "@")
	return f.st.Train([]string{UserModel(address), DomainModel(domain)}, Key(msg), c, Tokenize(msg), now)
}

// Totals returns the training state of the user at address.
func (f *Filter) Totals(address string) (Totals, error) { return f.st.Totals(UserModel(address)) }

// DomainTotals returns the state of a domain's shared model (what all its
// users trained), which judges for users with too little training.
func (f *Filter) DomainTotals(domain string) (Totals, error) { return f.st.Totals(DomainModel(domain)) }

// Reset forgets the training of the user at address (the domain model
// keeps what the user taught it).
func (f *Filter) Reset(address string) error { return f.st.Reset(UserModel(address)) }

// AddContacts notes addresses and "@domain"s the user at address
// exchanged mail with.
func (f *Filter) AddContacts(address string, contacts []string, now time.Time) error {
	return f.st.AddContacts(UserModel(address), contacts, now)
}

// Known reports whether mail from sender is from a correspondent of the
// user at address: an address the user sent to, or a domain the user
// exchanged mail with when dkimDomain (a DKIM signature that passed and
// is aligned with the From: domain; "" if none) vouches for it. Such mail
// never goes to Junk on the Bayes verdict alone.
func (f *Filter) Known(address, sender, dkimDomain string) (bool, error) {
	var cands []string
	if sender != "" {
		cands = append(cands, strings.ToLower(sender))
	}
	if dkimDomain != "" {
		cands = append(cands, "@"+strings.ToLower(dkimDomain))
	}
	if len(cands) == 0 {
		return false, nil
	}
	return f.st.HasContact(UserModel(address), cands)
}

// Key identifies a message for idempotent training: a digest of its
// Message-ID and its body, so the trace and verdict fields a server adds
// on the way in do not make a new message of it.
func Key(msg []byte) [32]byte {
	h := sha256.New()
	end := mailparse.HeaderLen(msg)
	for _, line := range bytes.Split(msg[:end], []byte("\n")) {
		if len(line) > 11 && strings.EqualFold(string(line[:11]), "message-id:") {
			h.Write(bytes.TrimSpace(line[11:]))
			break
		}
	}
	h.Write([]byte{0})
	h.Write(msg[end:])
	var k [32]byte
	h.Sum(k[:0])
	return k
}

// combine is Robinson's per-feature probability and Fisher's combining.
func (f *Filter) combine(tot Totals, counts []Count) (float64, int) {
	nham, nspam := float64(max(tot.Ham, 1)), float64(max(tot.Spam, 1))
	probs := make([]float64, 0, len(counts))
	for _, c := range counts {
		if c.Ham == 0 && c.Spam == 0 {
			continue
		}
		// Counts can exceed totals only through a store fault; clamp.
		ph := min(float64(c.Ham)/nham, 1)
		ps := min(float64(c.Spam)/nspam, 1)
		p := ps / (ph + ps)
		n := float64(c.Ham + c.Spam)
		p = (f.cfg.Strength*f.cfg.Assumed + n*p) / (f.cfg.Strength + n)
		if math.Abs(p-0.5) < f.cfg.MinDev {
			continue
		}
		probs = append(probs, p)
	}
	if len(probs) == 0 {
		return 0.5, 0
	}
	if len(probs) > f.cfg.MaxClues {
		slices.SortFunc(probs, func(a, b float64) int {
			da, db := math.Abs(a-0.5), math.Abs(b-0.5)
			switch {
			case da > db:
				return -1
			case da < db:
				return 1
			}
			return 0
		})
		probs = probs[:f.cfg.MaxClues]
	}
	var lnH, lnS float64
	for _, p := range probs {
		p = min(max(p, 1e-6), 1-1e-6)
		lnH += math.Log(p)
		lnS += math.Log(1 - p)
	}
	n := len(probs)
	// Fisher: how unlikely the product of the probabilities (ham-ness
	// when small) and of their complements (spam-ness when small) would be
	// by chance; the score is the balance of the two.
	ham := 1 - chi2Q(-2*lnH, 2*n)
	spam := 1 - chi2Q(-2*lnS, 2*n)
	return (spam - ham + 1) / 2, n
}

// chi2Q is the probability that a chi-square variable with v (even)
// degrees of freedom is at least x2.
func chi2Q(x2 float64, v int) float64 {
	m := x2 / 2
	term := math.Exp(-m)
	sum := term
	for i := 1; i < v/2; i++ {
		term *= m / float64(i)
		sum += term
	}
	return min(sum, 1)
}
