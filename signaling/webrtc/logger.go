package webrtc

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/pion/logging"
)

// pionLogs sends pion's own logs to slog at debug level: pion reports
// every socket closed under a leg being torn down as an error, which is
// routine for us. Trace and debug from pion are dropped.
type pionLogs struct{ log *slog.Logger }

func (f pionLogs) NewLogger(scope string) logging.LeveledLogger {
	return pionLogger{f.log.With("pion", scope)}
}

type pionLogger struct{ log *slog.Logger }

func (l pionLogger) out(level string, msg string) {
	if l.log.Enabled(context.Background(), slog.LevelDebug) {
		l.log.Debug("pion: "+msg, "level", level)
	}
}

func (pionLogger) Trace(string)          {}
func (pionLogger) Tracef(string, ...any) {}
func (pionLogger) Debug(string)          {}
func (pionLogger) Debugf(string, ...any) {}
func (l pionLogger) Info(m string)       { l.out("info", m) }
func (l pionLogger) Infof(f string, a ...any) {
	l.out("info", fmt.Sprintf(f, a...))
}
func (l pionLogger) Warn(m string) { l.out("warn", m) }
func (l pionLogger) Warnf(f string, a ...any) {
	l.out("warn", fmt.Sprintf(f, a...))
}
func (l pionLogger) Error(m string) { l.out("error", m) }
func (l pionLogger) Errorf(f string, a ...any) {
	l.out("error", fmt.Sprintf(f, a...))
}

var _ logging.LoggerFactory = pionLogs{}
