package store

import (
	"errors"
	"fmt"
	"strings"

	"github.com/authsmtp/authsmtp/store/kv"
)

// ErrNoSuchUser is a hosted domain without that user (SMTP 550 5.1.1).
var ErrNoSuchUser = errors.New("no such user here")

// maxRouteDepth bounds alias and forward chains.
const maxRouteDepth = 10

// Route is where mail for one recipient goes.
type Route struct {
	Local  []LocalRcpt // hosted mailboxes
	Remote []string    // addresses to deliver through the queue
	// Forwarded is true when Remote addresses were reached through an
	// alias or a user's forwarding, not named by the sender: mail from
	// outside must then be re-sent with an SRS envelope sender.
	Forwarded bool
}

// Route resolves one recipient address:
//   - a non-hosted domain is remote;
//   - a hosted user is delivered locally, or forwarded (with a local copy
//     when the user keeps one);
//   - an alias expands to its targets, each resolved again;
//   - postmaster@ and abuse@ go to the domain's postmaster, else the
//     catch-all, else are held (postmaster.go);
//   - an unknown local part goes to the domain's catch-all user;
//   - an SRS address of ours with a valid hash goes back to the original
//     sender (a bounce of forwarded mail);
//   - otherwise ErrNoSuchUser.
//
// Chains are followed up to maxRouteDepth; an address met twice adds
// nothing, and a recipient whose rules lead nowhere else is ErrAliasLoop.
func (s *Store) Route(rcpt string) (Route, error) {
	addr, err := NormalizeAddress(rcpt)
	if err != nil {
		return Route{}, err
	}
	var r Route
	looped := false
	err = s.db.View(func(tx kv.Tx) error {
		rt := &router{s: s, tx: tx, seen: map[string]bool{}, r: &r}
		err := rt.resolve(addr, 0)
		looped = rt.looped
		return err
	})
	if err != nil {
		return Route{}, err
	}
	if len(r.Local) == 0 && len(r.Remote) == 0 {
		if looped {
			return Route{}, fmt.Errorf("%w: %s", ErrAliasLoop, addr)
		}
		// An alias whose targets are all gone.
		return Route{}, fmt.Errorf("%w: %s", ErrNoSuchUser, addr)
	}
	return r, nil
}

type router struct {
	s    *Store
	tx   kv.Tx
	seen map[string]bool
	r    *Route
	// looped is set when an address came back to one being delivered.
	looped bool
}

func (rt *router) addLocal(addr string) {
	for _, l := range rt.r.Local {
		if l.Address == addr {
			return
		}
	}
	rt.r.Local = append(rt.r.Local, LocalRcpt{Address: addr})
}

func (rt *router) addRemote(addr string, depth int) {
	if depth > 0 {
		rt.r.Forwarded = true
	}
	for _, a := range rt.r.Remote {
		if a == addr {
			return
		}
	}
	rt.r.Remote = append(rt.r.Remote, addr)
}

func (rt *router) resolve(addr string, depth int) error {
	if rt.seen[addr] {
		rt.looped = true
		return nil // a loop: this address is already being delivered
	}
	rt.seen[addr] = true
	if depth > maxRouteDepth {
		return fmt.Errorf("%w: more than %d aliases or forwards in a row at %s", ErrAliasLoop, maxRouteDepth, addr)
	}
	tx := rt.tx
	dom := DomainOf(addr)
	var d Domain
	if !getRecord(rt.s.records, tx.Bucket(bucketDomains), dom, &d) {
		rt.addRemote(addr, depth)
		return nil
	}
	var u User
	if getRecord(rt.s.records, tx.Bucket(bucketUsers), addr, &u) {
		if u.Forward == "" {
			rt.addLocal(addr)
			return nil
		}
		if u.ForwardKeep {
			rt.addLocal(addr)
		}
		return rt.resolve(u.Forward, depth+1)
	}
	var a Alias
	if b := tx.Bucket(bucketAliases); b != nil && getJSON(b, addr, &a) {
		for _, t := range a.Targets {
			if err := rt.resolve(t, depth+1); err != nil && !errors.Is(err, ErrNoSuchUser) {
				return err
			}
		}
		return nil
	}
	local := addr[:strings.LastIndexByte(addr, '@')]
	if orig, ok := rt.s.srsReverseTx(tx, local); ok {
		rt.addRemote(orig, 0)
		return nil
	}
	if IsReservedLocal(addr) {
		// postmaster@ and abuse@ always arrive somewhere (postmaster.go).
		if pm := d.Postmaster; pm != "" && pm != addr && tx.Bucket(bucketUsers).Get([]byte(pm)) != nil {
			return rt.resolve(pm, depth+1)
		}
		if d.CatchAll != "" && d.CatchAll != addr {
			return rt.resolve(d.CatchAll, depth+1)
		}
		rt.addLocal(addr) // held until a postmaster is chosen
		return nil
	}
	if d.CatchAll != "" && d.CatchAll != addr {
		return rt.resolve(d.CatchAll, depth+1)
	}
	return fmt.Errorf("%w: %s", ErrNoSuchUser, addr)
}
