package bench

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// progressInterval is how often the progress line is redrawn.
const progressInterval = 250 * time.Millisecond

// isTerminal reports whether w is a character device: a progress line full
// of \r belongs on a terminal, never in a file or a pipe.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || f == nil {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// startProgress draws the progress line on w until the returned function is
// called, which clears it. It does nothing unless w is a terminal.
func startProgress(w io.Writer, r *runner) (stop func()) {
	if !isTerminal(w) {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(progressInterval)
		defer tick.Stop()
		for {
			select {
			case <-done:
				fmt.Fprint(w, "\r\033[K")
				return
			case <-tick.C:
				fmt.Fprint(w, "\r"+r.progressLine(time.Now())+"\033[K")
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// progressLine is the one-line state of the run at now.
func (r *runner) progressLine(now time.Time) string {
	elapsed := now.Sub(r.start)
	var frac float64
	switch {
	case r.cfg.Count > 0:
		frac = float64(r.sent.Load()) / float64(r.cfg.Count)
	case r.cfg.Duration > 0:
		frac = elapsed.Seconds() / r.cfg.Duration.Seconds()
	}
	frac = min(max(frac, 0), 1)
	const width = 24
	filled := int(frac * width)
	bar := strings.Repeat("=", filled) + strings.Repeat(" ", width-filled)
	rate := 0.0
	if s := elapsed.Seconds(); s > 0 {
		rate = float64(r.accepted.Load()) / s
	}
	line := fmt.Sprintf("%s [%s] %3.0f%% %6.1fs  sent %d  accepted %d  errors %d  %.0f msgs/s",
		r.cfg.Mode, bar, frac*100, elapsed.Seconds(), r.sent.Load(), r.accepted.Load(), r.failures.Load(), rate)
	if r.follow != nil {
		line += fmt.Sprintf("  completed %d  failed %d", r.follow.completed.Load(), r.follow.failed.Load())
	}
	return line
}
