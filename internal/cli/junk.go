package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/authsmtp/authsmtp/store"
	"github.com/authsmtp/authsmtp/store/junk"
	"github.com/authsmtp/authsmtp/store/mailio"
)

// junkCommands show, train and reset a user's junk filter.
func junkCommands() []Command {
	return []Command{
		{Words: "user junk", Usage: "ADDRESS [--reset] | ADDRESS train spam|ham PATH   (PATH: mbox file, Maildir, or a folder of them)",
			NArgs: [2]int{1, 4}, Paths: []int{3}, Extras: []string{"reset"}, Local: true, NoStore: true, Run: cmdJunk},
		{Words: "user junk-state", Usage: "ADDRESS [reset]", NArgs: [2]int{1, 2}, Hidden: true, Run: cmdJunkState},
		{Words: "user junk-train-staged", Usage: "ADDRESS spam|ham PATH", NArgs: [2]int{3, 3}, Hidden: true, Run: cmdJunkTrain},
	}
}

// cmdJunk runs in the CLI process: the state (and --reset) in the server
// if one runs, and training from a file staged like import's.
func cmdJunk(e *Env) error {
	switch {
	case len(e.Args) == 1:
		args := []string{e.Args[0]}
		if _, ok := e.Flags["reset"]; ok {
			args = append(args, "reset")
		}
		if !serverRunning(e.Cfg.Data) {
			e.Args = args
			return runDirect(e, cmdJunkState)
		}
		return callStaged(e, "user junk-state", args, "", "")
	case len(e.Args) == 4 && e.Args[1] == "train":
		addr, class, path := e.Args[0], e.Args[2], e.Args[3]
		if _, ok := junk.ParseClass(class); !ok {
			return fmt.Errorf("train %q: say spam or ham", class)
		}
		if _, err := os.Stat(path); err != nil {
			return fmt.Errorf("training: %w", err)
		}
		if !serverRunning(e.Cfg.Data) {
			e.Args = []string{addr, class, path}
			return runDirect(e, cmdJunkTrain)
		}
		stage, err := os.MkdirTemp(e.Cfg.Data, ".junk-")
		if err != nil {
			return fmt.Errorf("training: staging: %w", err)
		}
		defer os.RemoveAll(stage)
		dst := filepath.Join(stage, filepath.Base(path))
		if err := copyTree(path, dst); err != nil {
			return fmt.Errorf("training: copying %s: %w", path, err)
		}
		if err := chownTreeLike(stage, e.Cfg.Data); err != nil {
			return fmt.Errorf("training: staging: %w", err)
		}
		return callStaged(e, "user junk-train-staged", []string{addr, class, dst}, dst, path)
	}
	return fmt.Errorf("usage: user junk ADDRESS [--reset] | user junk ADDRESS train spam|ham PATH")
}

// cmdJunkState prints (after an optional reset) a user's filter state.
func cmdJunkState(e *Env) error {
	addr, err := store.NormalizeAddress(e.Args[0])
	if err != nil {
		return err
	}
	if _, err := e.St.GetUser(addr); err != nil {
		return fmt.Errorf("%s: %w", addr, err)
	}
	if len(e.Args) == 2 && e.Args[1] == "reset" {
		if err := e.St.Junk.Reset(addr); err != nil {
			return err
		}
		fmt.Fprintf(e.Out, "junk filter of %s reset\n", addr)
	}
	f := e.St.Junk
	tot, err := f.Totals(addr)
	if err != nil {
		return err
	}
	min := f.Config().MinTrained
	fmt.Fprintf(e.Out, "junk filter of %s\n", addr)
	fmt.Fprintf(e.Out, "  trained spam  %d\n  trained ham   %d\n", tot.Spam, tot.Ham)
	last := "never"
	if !tot.LastTrained.IsZero() {
		last = tot.LastTrained.Local().Format(time.RFC1123)
	}
	fmt.Fprintf(e.Out, "  last trained  %s\n", last)
	if f.Trained(tot) {
		fmt.Fprintf(e.Out, "  state         active (at least %d of each trained)\n", min)
	} else {
		fmt.Fprintf(e.Out, "  state         learning: decides from %d of each (the domain's shared model judges until then)\n", min)
	}
	return nil
}

// cmdJunkTrain trains a user's filter from an mbox or Maildir.
func cmdJunkTrain(e *Env) error {
	addr, err := store.NormalizeAddress(e.Args[0])
	if err != nil {
		return err
	}
	if _, err := e.St.GetUser(addr); err != nil {
		return fmt.Errorf("%s: %w", addr, err)
	}
	class, _ := junk.ParseClass(e.Args[1])
	bar := newProgressBar(e)
	changed := 0
	start := time.Now()
	sum, err := mailio.Messages(e.Args[2], mailio.Options{Progress: bar.show}, func(body []byte) error {
		n, err := e.St.TrainJunk(addr, class, [][]byte{body})
		changed += n
		return err
	})
	bar.done()
	if sum != nil {
		fmt.Fprintf(e.Out, "trained %d messages as %s for %s in %s (%d were already trained so)\n",
			sum.Messages, class, addr, time.Since(start).Round(time.Millisecond), sum.Messages-changed)
		for _, s := range sum.Skipped {
			fmt.Fprintf(e.Out, "  skipped %s: %s\n", s.Source, s.Reason)
		}
	}
	if err != nil {
		return err
	}
	return cmdJunkState(&Env{St: e.St, Args: []string{addr}, Out: e.Out})
}
