package cli

import (
	"fmt"
	"time"

	"github.com/authsmtp/authsmtp/store"
	"github.com/authsmtp/authsmtp/store/mailio"
)

// storeCommands move a whole store between backends.
func storeCommands() []Command {
	return []Command{
		{Words: "store copy", Usage: "FROM TO [--force]   (a bbolt file or data directory, or a postgres:// URL, on either side; no server may run on them)",
			NArgs: [2]int{2, 2}, Local: true, NoStore: true, Extras: []string{"force"}, Run: cmdStoreCopy},
	}
}

// cmdStoreCopy copies every bucket and key of FROM into TO, with a
// progress bar, then counts both sides.
func cmdStoreCopy(e *Env) error {
	from, to := e.Args[0], e.Args[1]
	start := time.Now()
	src, err := store.OpenKV(from, false)
	if err != nil {
		return fmt.Errorf("store copy: %w", err)
	}
	defer src.Close()
	dst, err := store.OpenKV(to, true)
	if err != nil {
		return fmt.Errorf("store copy: %w", err)
	}
	defer dst.Close()
	bar := newProgressBar(e)
	res, err := store.CopyStore(src, dst, e.Flags["force"] != "", func(p store.StoreCopyProgress) {
		bar.show(mailio.Progress{Done: p.Done, Total: p.Total, Folder: p.Bucket})
	})
	bar.done()
	if err != nil {
		return fmt.Errorf("store copy: %w", err)
	}
	fmt.Fprintf(e.Out, "copied %s to %s: %d keys, %s in %s\n", store.RedactSpec(from), store.RedactSpec(to),
		res.Keys, humanBytes(res.Bytes), time.Since(start).Round(time.Millisecond))
	fmt.Fprintf(e.Out, "verified: the source holds %d keys (%s), the target %d keys (%s)\n",
		res.SourceKeys, humanBytes(res.SourceBytes), res.TargetKeys, humanBytes(res.TargetBytes))
	return nil
}
