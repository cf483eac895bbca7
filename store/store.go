// Package store keeps all of authsmtp's state in one bbolt file,
// <data>/authsmtp.db, and holds the rules that decide who may log in and
// who may send as whom.
//
// The store reads and writes through store/kv, a small transactional
// key-value seam with two backends: store/kv/boltkv (the bbolt file, the
// default) and store/kv/pgkv (PostgreSQL, shared by several nodes). The
// rules are written once, over kv; the layout below is the same on both.
//
// # On-disk layout
//
// Top-level buckets (keys are byte strings, values JSON unless noted):
//
//	meta        "schema" → version (decimal), "admin" → admin password hash,
//	            "seq" → next message/queue id counter, other settings
//	domains     domain A-label → Domain
//	users       address (lower-case, A-label domain) → User
//	mailboxes   address → nested bucket: mailbox name → Mailbox
//	messages    mailbox id (8 bytes BE) → nested bucket: UID (4 bytes BE) →
//	            Message in a compact binary record (mailbox_record.go)
//	bodies      body id (8 bytes BE) → raw RFC 5322 bytes, CRLF line endings
//	bodyloc     body id → where the body is in a segment file (bbolt with
//	            Options.BodySegments; segment.go, bodies.go)
//	segments    segment number (4 bytes BE) → live bytes and records in it
//	bodyrefs    body id → reference count (4 bytes BE): one per mailbox
//	            message and queue entry that points at the body
//	bodymeta    body id → the IMAP layer's cached parse of the body
//	            (envelope, structure, search hints); created on first use,
//	            deleted with the body
//	sessions    web session id → Session
//	dedup       message key (SHA-256 of envelope and data) → unix time (8
//	            bytes BE): the MX's duplicate-suppression markers, committed
//	            with the message (delivery.go), pruned after DedupWindow
//	queue       queue id → QueueEntry (outbound mail; the body is in bodies)
//	certs       certificate storage (TLS keys and certificates)
//	junk        the junk filter's models (layout in store/junk/kvstore.go)
//	reports     DMARC and TLS reports received per hosted domain, and
//	reportmail  the mails they came in (layout in reportsin.go)
//	dmarcout    DMARC evaluations of inbound mail for the aggregate
//	            reports we send (layout in dmarcout.go)
//	limits      send-cap and throttle counters when the database is shared
//	            by several nodes (counters_shared.go)
//	tlsrptout   YYYY-MM-DD NUL recipient domain → TLSDay: outbound TLS
//	            sessions per policy (successes, failures by TLSRPT result
//	            type) for the daily TLS reports (tlsrpt.go); a day is
//	            deleted once its report is queued
//	spamstats   domain NUL YYYY-MM-DD → received, junked, refused (u32 BE
//	            each): inbound mail per hosted domain and day (spamstats.go)
//	dnslisthits zone NUL YYYY-MM-DD → connections the DNS list zone listed
//	            that day (u64 BE), the admin Spam tab's hits (dnslisthits.go)
//
// The refused count and the DNS list hits are bumped once per connection
// by whoever connects to port 25: they are tallied in memory and written
// together at most once a minute and at Close (tally.go), never once per
// connection.
//
// # Why bodies live in the database
//
// Message bodies are kept in their own bucket rather than in files beside
// the database. A body file would need its own fsync, a directory fsync and
// then the bbolt commit: three syncs per message and a window where a file
// exists with no record. In a bucket, the body, its mailbox records and its
// queue entry commit together in one transaction, and concurrent submissions
// share that commit (group commit, groupcommit.go), so one fsync covers
// many messages. The hot buckets (mailboxes, messages) hold only small records,
// so a SELECT or FETCH FLAGS never pages in bodies. The cost is that the
// file never shrinks; freed pages are reused by later mail.
//
// With Options.BodySegments, bodies go to append-only segment files
// instead (bodies.go): the group's bodies are written, the segment is
// fdatasynced once, then bbolt commits the records that point at them.
// One sync more per group, no body pages in the commit or the mapping.
//
// # Invariants
//
//   - A message is acknowledged only after the transaction that stores it
//     (body, mailbox records, queue entry) has committed and been fsynced.
//   - Nothing inside a group-commit (or Batch) function has side effects
//     outside the transaction: it may run more than once.
//   - No transaction is held across network I/O.
package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authsmtp/authsmtp/store/junk"
	"github.com/authsmtp/authsmtp/store/kv"
	"github.com/authsmtp/authsmtp/store/kv/boltkv"
)

// SchemaVersion is the layout version this binary writes.
const SchemaVersion = 2

// DBFile is the database file's name inside the data directory.
const DBFile = "authsmtp.db"

var (
	bucketMeta      = []byte("meta")
	bucketDomains   = []byte("domains")
	bucketUsers     = []byte("users")
	bucketMailboxes = []byte("mailboxes")
	bucketMessages  = []byte("messages")
	bucketBodies    = []byte("bodies")
	bucketQueue     = []byte("queue")
	bucketCerts     = []byte("certs")
	bucketBodyRefs  = []byte("bodyrefs")
	bucketSessions  = []byte("sessions")

	allBuckets = [][]byte{bucketMeta, bucketDomains, bucketUsers, bucketMailboxes,
		bucketMessages, bucketBodies, bucketQueue, bucketCerts, bucketBodyRefs, bucketSessions,
		bucketLimits}
)

// ErrLocked is returned by Open when another process holds the database.
var ErrLocked = errors.New("the database is in use by another process (is authsmtp serve running on this data directory?)")

// Options tunes a Store. The zero value is usable.
type Options struct {
	// Logger receives store events; nil means slog.Default().
	Logger *slog.Logger
	// LockTimeout is how long Open waits for another process's file lock.
	LockTimeout time.Duration
	// NoSync turns fsync off. Only for tests that measure something else.
	NoSync bool
	// Junk tunes the junk filter.
	Junk junk.Config
	// MaxFileSize caps the database file, in bytes: a commit that would
	// grow it further fails (0: no cap).
	MaxFileSize int
	// Shared says several nodes use the database at once: the throttle
	// and send-cap counters then live in it (counters_shared.go), not in
	// this process's memory.
	Shared bool
	// BodySegments keeps new message bodies in append-only segment
	// files beside a bbolt database (<data>/bodies/, bodies.go) instead
	// of in it. Segments that exist are read either way.
	BodySegments bool
	// Feed, when set, carries events and revocations to and from the
	// other nodes on the database (feed.go).
	Feed Feed
	// RecheckEvery is how often, with a Feed, the sessions are checked
	// against the database as after a gap in the feed (revalidate.go), in
	// case a notice was lost on the sending side (default 5 minutes).
	RecheckEvery time.Duration
	// feedCloser closes a Feed the store made itself (OpenBackend).
	feedCloser func()
	// ReportCap bounds the reports received per hosted domain and day
	// (reportsin.go); zero fields take its defaults.
	ReportCap ReportCap
}

// Store is the one handle on the database. It is safe for concurrent use.
type Store struct {
	// db is the backend, with the body store's flush before each commit
	// (flushingDB); base is the backend itself (for kv.File, kv.Mapped).
	db   kv.DB
	base kv.DB
	dir  string
	// bodies keeps message bodies (bodies.go); segs is it when bodies
	// are in segment files (a local bbolt file), else nil.
	bodies bodyStore
	segs   *segBodies
	// bg counts the background body work (moving, compacting), stopped
	// by Close through junkDone.
	bg   sync.WaitGroup
	log  *slog.Logger
	auth *authCache
	// revoked ends open sessions when their credentials change (revoke.go).
	revoked *revocations
	// recheck holds the answers of sessions checked after a feed gap
	// (revalidate.go).
	recheck revalidation
	// records caches decoded domain and user records (recordcache.go).
	records *recordCache
	// mapReads counts bytes scans read through bbolt's mapping since it
	// was last trimmed (maptrim.go).
	mapReads atomic.Int64

	// Events fans out changes (new mail, flag changes, expunges) to IMAP
	// sessions and the web UI after they are committed.
	Events *Notifier

	// Throttle is the one failed-login throttle shared by SMTP, IMAP and web.
	Throttle *Throttle

	// Caps counts messages per login for the send caps.
	Caps *SendCaps

	// Junk is the per-user junk filter; its statistics live in the junk
	// bucket (store/junk). junkfilter.go trains it from what users do.
	Junk     *junk.Filter
	junkWork chan func()
	// sentLearning samples sent mail for training (see junkfilter.go).
	sentLearning *sentLearning
	junkDone     chan struct{}

	// Hooks that let other files of this package join account changes
	// without editing the account code; each runs inside the same
	// transaction (credentialHooks run after commit).
	domainAddHooks    []func(tx kv.Tx, d *Domain) error
	domainRemoveHooks []func(tx kv.Tx, domain string) error
	userRemoveHooks   []func(tx kv.Tx, address string) error
	credentialHooks   []func(login string)

	// feed joins the other nodes on a shared database (nil: none).
	feed *feedState

	// reportCap bounds the reports received per domain and day.
	reportCap ReportCap
	// tally holds the per-connection counters until they are written
	// (tally.go).
	tally *tally

	// commits shares fsynced commits among concurrent acceptances.
	commits *groupCommit

	defaultQuota atomic.Int64
	dedupPruned  atomic.Int64 // unix time of the last dedup marker pruning
	// reportsPruned is the unix time of the last pruning of received
	// reports (reportsin.go).
	reportsPruned atomic.Int64
	queueKick     func()

	closeOnce sync.Once
}

// Open opens (creating if needed) the bbolt database in dir.
func Open(dir string, opts Options) (*Store, error) {
	if opts.LockTimeout == 0 {
		opts.LockTimeout = 2 * time.Second
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating data directory %s: %w", dir, err)
	}
	path := filepath.Join(dir, DBFile)
	db, err := boltkv.Open(path, &boltkv.Options{Timeout: opts.LockTimeout, NoSync: opts.NoSync, MaxSize: opts.MaxFileSize, FreelistType: boltkv.FreelistMapType})
	if err != nil {
		if errors.Is(err, boltkv.ErrTimeout) {
			return nil, fmt.Errorf("opening %s: %w", path, ErrLocked)
		}
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	// For any db.Batch caller; Accept uses its own timer-less group commit.
	db.Bolt().MaxBatchDelay = 2 * time.Millisecond
	db.Bolt().MaxBatchSize = 256
	return OpenDB(db, dir, opts)
}

// OpenDB opens a store on db, any backend of store/kv, creating or
// upgrading its layout. dir is the data directory (spool files, keys);
// the store closes db when it is closed, or now if OpenDB fails.
func OpenDB(db kv.DB, dir string, opts Options) (*Store, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Store{db: db, base: db, dir: dir, log: opts.Logger, auth: newAuthCache(), revoked: newRevocations(), records: newRecordCache(),
		reportCap: opts.ReportCap.orDefault()}
	s.bodies = kvBodies{}
	if _, local := db.(kv.File); local && dir != "" {
		s.segs = newSegBodies(dir, opts.BodySegments, opts.NoSync)
		s.bodies = s.segs
		s.db = flushingDB{DB: db, bodies: s.segs}
	}
	// Concurrent acceptances share one transaction on every backend. A
	// local file pays an fsync per commit; on PostgreSQL the messages of
	// one node meet on the same records (the traffic counter, a popular
	// mailbox), so separate serializable transactions conflicted and were
	// retried (1.5 retries a message with 8 writers), and a group reads
	// each record once and sends its writes in one round trip.
	s.commits = newGroupCommit(s.db, maxGroupCalls)
	s.Events = newNotifier()
	s.Throttle = NewThrottle(ThrottleConfig{})
	s.Caps = newSendCaps()
	if opts.Shared {
		sc := &sharedCounters{db: db}
		s.Throttle.shared, s.Caps.shared = sc, sc
	}
	s.credentialHooks = append(s.credentialHooks, s.endSessionsOf)
	s.registerMailflowHooks()
	s.registerReportHooks()
	s.userRemoveHooks = append(s.userRemoveHooks, removeJunkModel)
	if err := s.init(); err != nil {
		db.Close()
		return nil, err
	}
	if err := s.startSegments(); err != nil {
		db.Close()
		return nil, err
	}
	if _, err := s.fixWWWDomains(); err != nil {
		db.Close()
		return nil, fmt.Errorf("renaming www. domains of an older version: %w", err)
	}
	js, err := junk.NewKVStore(db)
	if err != nil {
		db.Close()
		return nil, err
	}
	s.Junk = junk.New(js, opts.Junk)
	s.junkWork, s.junkDone = make(chan func(), 256), make(chan struct{})
	s.sentLearning = newSentLearning()
	go s.junkWorker()
	if opts.Feed != nil {
		s.startFeed(opts.Feed, opts.feedCloser, opts.RecheckEvery)
	}
	s.startMapTrim()
	s.startTally()
	s.startBodyMover()
	return s, nil
}

// maxGroupCalls is the most calls one group commit runs together.
const maxGroupCalls = 256

func (s *Store) init() error {
	// An older file is upgraded first (migrate.go); a newer one is refused below.
	if err := s.migrate(); err != nil {
		return err
	}
	return s.db.Update(func(tx kv.Tx) error {
		buckets := allBuckets
		if s.segs != nil {
			buckets = append(buckets[:len(buckets):len(buckets)], bucketBodyLoc, bucketSegments)
		}
		for _, b := range buckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return fmt.Errorf("creating bucket %s: %w", b, err)
			}
		}
		meta := tx.Bucket(bucketMeta)
		v := meta.Get([]byte("schema"))
		if v == nil {
			return meta.Put([]byte("schema"), []byte(strconv.Itoa(SchemaVersion)))
		}
		n, err := strconv.Atoi(string(v))
		if err != nil {
			return fmt.Errorf("reading schema version %q: %w", v, err)
		}
		if n > SchemaVersion {
			return fmt.Errorf("the database was written by a newer authsmtp (schema %d, this binary knows up to %d): upgrade authsmtp or restore a backup", n, SchemaVersion)
		}
		return nil
	})
}

// Close closes the database.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.stopFeed()
		close(s.junkDone)
		s.stopTally()
		s.bg.Wait()
		err = s.bodies.close()
		if cerr := s.db.Close(); err == nil {
			err = cerr
		}
	})
	return err
}

// Shared reports whether several nodes use the database (Options.Shared).
func (s *Store) Shared() bool { return s.Caps.shared != nil }

// Dir is the data directory.
func (s *Store) Dir() string { return s.dir }

// Ping checks that the database answers a read (the web /healthz).
func (s *Store) Ping() error {
	return s.db.View(func(kv.Tx) error { return nil })
}

// file is the bbolt file under the store, or nil on another backend.
func (s *Store) file() kv.File {
	f, _ := s.base.(kv.File)
	return f
}

// Sync flushes the database file to disk (before a graceful exit); a
// no-op on a backend without a local file.
func (s *Store) Sync() error {
	if f := s.file(); f != nil {
		return f.Sync()
	}
	return nil
}

// Check runs the backend's consistency check over the whole database
// (bbolt's page check; nothing to check on PostgreSQL, which has its own).
func (s *Store) Check() error {
	if f := s.file(); f != nil {
		return f.Check()
	}
	return s.Ping()
}

// Path is the database file's path, "" on a backend without one.
func (s *Store) Path() string {
	if f := s.file(); f != nil {
		return f.Path()
	}
	return ""
}

// nextSeq returns a new unique id, inside tx: from the backend's shared
// counter when it has one (kv.IDs: a PostgreSQL sequence, so concurrent
// writers on several nodes do not all conflict on one row), else from the
// meta "seq" key.
func nextSeq(tx kv.Tx) uint64 {
	if ids, ok := tx.(kv.IDs); ok {
		n, _ := ids.NextID() // a failure fails the transaction (kv's contract)
		return n
	}
	b := tx.Bucket(bucketMeta)
	var n uint64
	if v := b.Get([]byte("seq")); len(v) == 8 {
		n = binary.BigEndian.Uint64(v)
	}
	n++
	b.Put([]byte("seq"), u64(n))
	return n
}

func u64(n uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, n)
	return b
}

func u32(n uint32) []byte {
	b := make([]byte, 4)
	binary.BigEndian.PutUint32(b, n)
	return b
}
