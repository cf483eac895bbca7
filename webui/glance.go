package webui

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/authsmtp/authsmtp/store"
)

// The dashboard's deliverability card reuses the DNS page's live check
// (Config.DNS with check), which can take seconds per domain: results are
// cached for glanceTTL and the dashboard waits at most glanceWait for the
// checks it starts; a domain still being checked shows as such.
const (
	glanceTTL   = 5 * time.Minute
	glanceWait  = 2 * time.Second
	glanceCheck = 15 * time.Second // bound on one domain's whole check
)

// glanceKinds are the records the card marks, in order, by DNSRecord.Purpose.
var glanceKinds = []struct{ Label, Purpose string }{
	{"SPF", "SPF"}, {"DKIM", "DKIM"}, {"DMARC", "DMARC"},
	{"MTA-STS", "MTA-STS"}, {"TLSRPT", "TLS reports"},
}

// glanceRow is a domain's line in the deliverability card.
type glanceRow struct {
	Domain  string
	Marks   []glanceMark
	Pending bool   // the check has not finished yet
	Err     string // the check failed as a whole
}

// glanceMark is one kind of record: ok, missing or wrong.
type glanceMark struct{ Label, State string }

type glanceEntry struct {
	row     glanceRow
	at      time.Time // when row was computed; zero: never
	running bool
	done    chan struct{} // closed when the running check ends
}

// glanceCache holds the last check of each domain.
type glanceCache struct {
	mu sync.Mutex
	m  map[string]*glanceEntry
}

// glanceMarks sums a domain's checked records up per kind: ok when every
// record of the kind is, missing when one is not published, else wrong.
func glanceMarks(recs []DNSRecord) []glanceMark {
	var out []glanceMark
	for _, k := range glanceKinds {
		state := ""
		for _, r := range recs {
			if r.Purpose != k.Purpose && !(k.Purpose == "MTA-STS" && r.Purpose == "MTA-STS policy") {
				continue
			}
			switch {
			case r.OK && state == "":
				state = "ok"
			case !r.OK && strings.HasPrefix(r.Found, "missing"):
				if state != "wrong" {
					state = "missing"
				}
			case !r.OK:
				state = "wrong"
			}
		}
		if state != "" {
			out = append(out, glanceMark{k.Label, state})
		}
	}
	return out
}

// glanceRows returns a row per domain, from the cache when fresh, else
// from checks started now and awaited until glanceWait at most.
func (s *Server) glanceRows(doms []store.Domain) []glanceRow {
	if s.cfg.DNS == nil || len(doms) == 0 {
		return nil
	}
	now := time.Now()
	entries := make([]*glanceEntry, len(doms))
	s.glance.mu.Lock()
	if s.glance.m == nil {
		s.glance.m = map[string]*glanceEntry{}
	}
	for i, d := range doms {
		e := s.glance.m[d.Name]
		if e == nil {
			e = &glanceEntry{row: glanceRow{Domain: d.Name, Pending: true}}
			s.glance.m[d.Name] = e
		}
		if !e.running && now.Sub(e.at) > glanceTTL {
			e.running, e.done = true, make(chan struct{})
			go s.glanceCheck(d.Name, e)
		}
		entries[i] = e
	}
	s.glance.mu.Unlock()
	deadline := time.After(glanceWait)
wait:
	for _, e := range entries {
		s.glance.mu.Lock()
		running, done := e.running, e.done
		s.glance.mu.Unlock()
		if !running {
			continue
		}
		select {
		case <-done:
		case <-deadline:
			break wait
		}
	}
	rows := make([]glanceRow, len(entries))
	s.glance.mu.Lock()
	for i, e := range entries {
		rows[i] = e.row
	}
	s.glance.mu.Unlock()
	return rows
}

// glanceCheck runs one domain's live DNS check and stores the result.
func (s *Server) glanceCheck(domain string, e *glanceEntry) {
	ctx, cancel := context.WithTimeout(context.Background(), glanceCheck)
	defer cancel()
	row := glanceRow{Domain: domain}
	recs, err := s.cfg.DNS(ctx, domain, true)
	if err != nil {
		row.Err = err.Error()
	}
	row.Marks = glanceMarks(recs)
	s.glance.mu.Lock()
	e.row, e.at, e.running = row, time.Now(), false
	close(e.done)
	s.glance.mu.Unlock()
}

// ownListed says, in one line for the dashboard, whether our outbound
// address is on a blocklist, from the Spam tab's data.
type ownListed struct {
	IP, From string
	Listed   []string // zones listing us
	Unknown  int      // zones whose lookup failed
	Zones    int      // zones looked up
	Checked  bool
}

func (s *Server) ownListing() *ownListed {
	if s.cfg.DNSLists == nil {
		return nil
	}
	l := s.cfg.DNSLists()
	o := &ownListed{IP: l.OwnIP, From: l.OwnIPFrom, Zones: len(l.Own), Checked: !l.Checked.IsZero()}
	for _, z := range l.Own {
		switch {
		case z.Listed:
			o.Listed = append(o.Listed, z.Zone)
		case z.Err != "":
			o.Unknown++
		}
	}
	return o
}
