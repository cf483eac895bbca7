// Package queue delivers the store's outbound queue: a pool of workers
// that look up MX hosts through the one resolver (or use a smarthost),
// deliver with opportunistic STARTTLS, record every attempt in the entry's
// timeline, retry temporary failures on a growing schedule and send a DSN
// to the sender for permanent failures and expiry.
//
// Durability: an entry is read, the message is sent with no transaction
// open, and only then is the outcome committed. A crash after the remote
// side said 250 and before that commit sends the message again on restart:
// a duplicate, never a loss.
//
// Several nodes on one database: a node claims an entry with a lease
// before delivering it, renews the lease while it works and releases it
// when done (lease.go); entries another node holds are skipped, and taken
// over when that node's lease lapses.
//
// Scheduling: due entries are grouped by destination (the recipient's
// domain, or the relay). Each destination gets at most PerDest connections
// at once, and each connection carries up to Batch messages, so a burst to
// one domain reuses a few connections instead of opening one per message.
package queue

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/authsmtp/authsmtp/internal/metrics"
	"github.com/authsmtp/authsmtp/smtp/dnsx"
	"github.com/authsmtp/authsmtp/store"
)

// Resolver finds the mail hosts of a domain (*dnsx.Resolver).
type Resolver interface {
	MailHosts(ctx context.Context, domain string) ([]dnsx.Host, error)
	LookupHost(ctx context.Context, host string) ([]string, error)
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

// Store is what delivery needs of the store: the due entries and their
// bodies, recording attempts (with the bounce they may cause), routing
// for bounces to local senders, and a kick when mail is queued.
type Store interface {
	DueQueue(now time.Time, limit int) ([]store.QueueEntry, time.Time, error)
	GetQueue(id string) (store.QueueEntry, error)
	RecordDeliveryDSN(id string, fn func(q *store.QueueEntry) (dsn *store.Incoming, err error)) (store.DSNDelivery, error)
	UnfiledCaptured() ([]store.QueueEntry, error)
	FileCaptured(id string) (bool, error)
	Body(id uint64) ([]byte, error)
	Route(rcpt string) (store.Route, error)
	OnQueued(fn func())
	ClaimQueue(node string, ids []string, until time.Time) ([]string, error)
	RenewQueueLeases(node string, ids []string, until time.Time) ([]string, error)
	ReleaseQueue(node string, ids []string) error
}

// Config tunes a Runner. Store, Resolver and Hostname are required.
type Config struct {
	Store    Store
	Resolver Resolver
	// Hostname is the EHLO name and the Reporting-MTA of DSNs.
	Hostname string
	// Workers is how many deliveries run at once (default 8).
	Workers int
	// PerDest caps simultaneous connections to one destination (default 4).
	PerDest int
	// Batch is the most messages sent over one connection (default 50).
	Batch int
	// Schedule is the delays between attempts; the last one repeats
	// (default 1m, 5m, 15m, 30m, 1h).
	Schedule []time.Duration
	// MaxAge is when a message is given up and bounced (default 5 days).
	MaxAge time.Duration
	// Port is the MX port (default 25; tests use their own).
	Port int
	// Relay, if set, is a smarthost host:port that gets all mail. Port 465
	// means implicit TLS; otherwise STARTTLS is required when a login is
	// set. RelayUser/RelayPassword log in with AUTH PLAIN.
	Relay         string
	RelayUser     string
	RelayPassword string
	// RelayTLS verifies the relay's certificate (nil: system roots).
	RelayTLS *tls.Config
	// NoDelivery (capture/demo mode) never connects out: nothing is
	// delivered, captured copies are filed for user logins.
	NoDelivery bool
	// NoMTASTS skips MTA-STS policies (delivery stays opportunistic).
	NoMTASTS bool
	// RootCAs verifies MTA-STS policy servers and the MX hosts of
	// enforcing domains (nil: the system's roots).
	RootCAs *x509.CertPool
	// STSPort is the HTTPS port of policy servers (443; tests use others).
	STSPort int
	// Timeout is per SMTP command (default 2 minutes).
	Timeout time.Duration
	Logger  *slog.Logger
	// Node names this process in queue leases; every node on one database
	// needs its own (default "local", for a database only this process
	// opens).
	Node string
	// Lease is how long a claim on an entry holds without renewal: how
	// long other nodes wait to take over the entries of a node that died
	// (default 1 minute; renewed every third of it while delivering).
	Lease time.Duration
	// PollEvery is the longest the scheduler sleeps with nothing due
	// (default 1 minute). Nodes on a shared database set it to Lease: they
	// are not woken when another node queues mail, and look often enough
	// to take over a dead node's entries soon after its lease lapses.
	PollEvery time.Duration
	// DANERequired are destination domains mail goes to only under DANE
	// (dane.go): an MX host without authenticated TLSA records is not
	// used, and is reported as dane-required (RFC 8460 §4.3.2.1).
	DANERequired []string
	// TLSResults receives the outcome of every TLS session with an MX,
	// for TLS reporting (nil: off; see tlsreport.go). It must not block.
	TLSResults func(store.TLSResult)
	// Metrics counts delivery attempts by result (nil: off).
	Metrics *metrics.Metrics
}

// ParseSchedule reads "1m,5m,15m,30m,1h".
func ParseSchedule(s string) ([]time.Duration, error) {
	var out []time.Duration
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		d, err := time.ParseDuration(f)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("--retry-schedule %q: %q is not a positive duration", s, f)
		}
		out = append(out, d)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--retry-schedule %q: no delays", s)
	}
	return out, nil
}

// Runner is the delivery worker pool.
type Runner struct {
	cfg Config
	st  Store
	log *slog.Logger

	kick chan struct{}
	sem  chan struct{}

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	loopWG sync.WaitGroup

	sts stsCache

	mu       sync.Mutex
	inflight map[string]bool // entry id NUL destination
	perDest  map[string]int
	leases   map[string]int // entry id → inflight keys holding its lease
}

// New checks cfg and builds a Runner; Start runs it.
func New(cfg Config) (*Runner, error) {
	if cfg.Store == nil || cfg.Resolver == nil || cfg.Hostname == "" {
		return nil, errors.New("queue: Store, Resolver and Hostname are required")
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 8
	}
	if cfg.PerDest <= 0 {
		cfg.PerDest = 4
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 50
	}
	if len(cfg.Schedule) == 0 {
		cfg.Schedule = []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, 30 * time.Minute, time.Hour}
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = 5 * 24 * time.Hour
	}
	if cfg.Port == 0 {
		cfg.Port = 25
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Node == "" {
		cfg.Node = "local"
	}
	if cfg.Lease <= 0 {
		cfg.Lease = time.Minute
	}
	if cfg.PollEvery <= 0 {
		cfg.PollEvery = time.Minute
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Runner{cfg: cfg, st: cfg.Store, log: cfg.Logger.With("service", "queue"),
		kick: make(chan struct{}, 1), sem: make(chan struct{}, cfg.Workers),
		ctx: ctx, cancel: cancel, inflight: map[string]bool{}, perDest: map[string]int{}, leases: map[string]int{}}, nil
}

// Start runs the scheduler until Stop, and makes the store wake it after
// every commit that queues mail.
func (r *Runner) Start() {
	// Leases left by this node's previous run (a crash) hold nothing back:
	// nothing is in flight at start.
	if err := r.st.ReleaseQueue(r.cfg.Node, nil); err != nil {
		r.log.Warn("releasing old queue leases", "node", r.cfg.Node, "err", err)
	}
	r.st.OnQueued(r.Kick)
	r.loopWG.Add(2)
	go r.loop()
	go r.renewLoop()
}

// Kick wakes the scheduler; it never blocks.
func (r *Runner) Kick() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Stop ends the scheduler and interrupts deliveries (they stay queued and
// are retried at the next start), waiting for workers until ctx ends.
func (r *Runner) Stop(ctx context.Context) error {
	r.cancel()
	done := make(chan struct{})
	go func() {
		r.loopWG.Wait()
		r.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *Runner) loop() {
	defer r.loopWG.Done()
	for {
		// Only capture mode makes captured entries; delivering servers
		// need not scan for them on every wake-up.
		var next time.Time
		if r.cfg.NoDelivery {
			r.fileCaptured()
		} else {
			next = r.dispatch()
		}
		wait := r.cfg.PollEvery
		if !next.IsZero() {
			if d := time.Until(next); d < wait {
				wait = max(d, 10*time.Millisecond)
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-r.ctx.Done():
			t.Stop()
			return
		case <-r.kick:
		case <-t.C:
		}
		t.Stop()
	}
}

// item is one entry's recipients at one destination.
type item struct {
	id    string
	rcpts []string
}

// destOf is the destination key of a recipient: its domain, or the relay.
func (r *Runner) destOf(rcpt string) string {
	if r.cfg.Relay != "" {
		return "relay:" + r.cfg.Relay
	}
	return store.DomainOf(rcpt)
}

// dispatch starts jobs for due entries and returns when to look again.
// It plans the jobs, claims their entries in one transaction (no lock held
// over it), then starts the jobs with what it claimed.
func (r *Runner) dispatch() time.Time {
	now := time.Now()
	entries, next, err := r.st.DueQueue(now, 0)
	if err != nil {
		r.log.Error("reading the queue", "err", err)
		return now.Add(time.Minute)
	}
	groups := map[string][]item{}
	r.mu.Lock()
	for _, q := range entries {
		if q.LeasedElsewhere(r.cfg.Node, now) {
			// Another node delivers it; look again when its lease lapses.
			if next.IsZero() || q.LeaseUntil.Before(next) {
				next = q.LeaseUntil
			}
			continue
		}
		byDest := map[string][]string{}
		var order []string
		for _, rc := range q.Pending() {
			d := r.destOf(rc)
			if _, ok := byDest[d]; !ok {
				order = append(order, d)
			}
			byDest[d] = append(byDest[d], rc)
		}
		for _, d := range order {
			if r.inflight[q.ID+"\x00"+d] {
				continue
			}
			groups[d] = append(groups[d], item{id: q.ID, rcpts: byDest[d]})
		}
	}
	dests := make([]string, 0, len(groups))
	for d := range groups {
		dests = append(dests, d)
	}
	sort.Strings(dests)
	type plannedJob struct {
		dest  string
		items []item
	}
	var plan []plannedJob
	var ids []string
	for _, d := range dests {
		items := groups[d]
		for n := r.perDest[d]; len(items) > 0 && n < r.cfg.PerDest; n++ {
			k := min(len(items), r.cfg.Batch)
			plan = append(plan, plannedJob{d, items[:k]})
			for _, it := range items[:k] {
				ids = append(ids, it.id)
			}
			items = items[k:]
		}
	}
	r.mu.Unlock()
	if len(plan) == 0 {
		return next
	}
	claimed, err := r.claim(ids)
	if err != nil {
		r.log.Error("claiming queue entries", "err", err)
		return now.Add(10 * time.Second)
	}
	r.mu.Lock()
	for _, p := range plan {
		// Only the loop dispatches, so perDest can only have gone down
		// meanwhile; a job's more() may have taken an item: skip those.
		var job []item
		for _, it := range p.items {
			if claimed[it.id] && r.hold(it.id, p.dest) {
				job = append(job, it)
			}
		}
		if len(job) == 0 {
			continue
		}
		r.perDest[p.dest]++
		r.wg.Add(1)
		go r.runJob(p.dest, job)
	}
	unused := r.unheld(claimed)
	r.mu.Unlock()
	r.release(unused)
	return next
}

// runJob delivers one batch to one destination, then frees its slot and
// wakes the scheduler for what is left.
func (r *Runner) runJob(dest string, items []item) {
	defer r.wg.Done()
	j := &job{dest: dest, items: items}
	defer func() {
		r.mu.Lock()
		var done []string
		for _, it := range j.all {
			if r.drop(it.id, dest) {
				done = append(done, it.id)
			}
		}
		r.perDest[dest]--
		r.mu.Unlock()
		r.release(done)
		r.Kick()
	}()
	select {
	case r.sem <- struct{}{}:
	case <-r.ctx.Done():
		return
	}
	defer func() { <-r.sem }()
	j.all = append(j.all, items...)
	r.deliver(j)
}

// job is one connection's work for one destination. It starts with the
// items dispatched to it and, while its connection is open, takes more
// items due for the same destination (job.more), so a trickle of messages
// to one domain shares a connection.
type job struct {
	dest  string
	items []item
	all   []item // every item taken, to release at the end
	sent  int
}

// more takes up to Batch more due items for the job's destination that no
// other job holds. It returns nil when the job has sent its share.
func (r *Runner) more(j *job) []item {
	if j.sent >= 4*r.cfg.Batch || r.ctx.Err() != nil {
		return nil
	}
	now := time.Now()
	entries, _, err := r.st.DueQueue(now, 0)
	if err != nil {
		return nil
	}
	r.mu.Lock()
	var cand []item
	var ids []string
	for _, q := range entries {
		var rcpts []string
		for _, rc := range q.Pending() {
			if r.destOf(rc) == j.dest {
				rcpts = append(rcpts, rc)
			}
		}
		if len(rcpts) == 0 || r.inflight[q.ID+"\x00"+j.dest] || q.LeasedElsewhere(r.cfg.Node, now) {
			continue
		}
		cand = append(cand, item{id: q.ID, rcpts: rcpts})
		ids = append(ids, q.ID)
		if len(cand) == r.cfg.Batch {
			break
		}
	}
	r.mu.Unlock()
	if len(cand) == 0 {
		return nil
	}
	claimed, err := r.claim(ids)
	if err != nil {
		r.log.Error("claiming queue entries", "err", err)
		return nil
	}
	r.mu.Lock()
	var out []item
	for _, it := range cand {
		if claimed[it.id] && r.hold(it.id, j.dest) {
			out = append(out, it)
			j.all = append(j.all, it)
		}
	}
	unused := r.unheld(claimed)
	r.mu.Unlock()
	r.release(unused)
	return out
}
