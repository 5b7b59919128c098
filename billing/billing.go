// Package billing applies what payment providers report: each signed event, taken into
// the store when it arrived, is applied by a job, so that the webhook answers at once
// and an event about a subscription whose checkout has not arrived yet waits for it.
// It also mails buyers the usage notices their messages queue.
package billing

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/jobs"
	"github.com/riverqueue/river"
)

// Applier is the worker of jobs.PaymentEvent.
type Applier struct {
	river.WorkerDefaults[jobs.PaymentEvent]
	Events lobby.PaymentEventService
	Logger *slog.Logger
}

// Work applies the job's event. One about a subscription not known yet is tried again
// by the queue, until its attempts run out.
func (a *Applier) Work(ctx context.Context, job *river.Job[jobs.PaymentEvent]) error {
	outcome, err := a.Events.ApplyPaymentEvent(ctx, job.Args.EventID)
	if err != nil {
		if lobby.ErrorCode(err) == lobby.EUNAVAILABLE && job.Attempt >= job.MaxAttempts {
			a.Logger.Error("payment event given up", "event_id", job.Args.EventID, "attempts", job.Attempt, "err", lobby.ErrorMessage(err))
		}
		return err
	}
	a.Logger.Info("payment event applied", "event_id", job.Args.EventID, "outcome", outcome)
	return nil
}

// Notifier is the worker of jobs.UsageNotice: it mails the buyer's user.
type Notifier struct {
	river.WorkerDefaults[jobs.UsageNotice]
	Users interface {
		FindUserByID(context.Context, string) (*lobby.User, error)
	}
	Consultants interface {
		FindConsultantByID(context.Context, string) (*lobby.Consultant, error)
	}
	Mailer  lobby.Mailer
	BaseURL string
}

// Work sends the notice. A mail service that is down is tried again by the queue.
func (n *Notifier) Work(ctx context.Context, job *river.Job[jobs.UsageNotice]) error {
	a := job.Args
	u, err := n.Users.FindUserByID(ctx, a.UserID)
	if err != nil {
		return err
	}
	c, err := n.Consultants.FindConsultantByID(ctx, a.ConsultantID)
	if err != nil {
		return err
	}
	resets := a.PeriodEnd.UTC().Format("2 January 2006, 15:04 MST")
	e := lobby.Email{To: u.Email}
	if a.Percent >= lobby.UsageFull {
		e.Subject = fmt.Sprintf("You have used 100%% of your messages with %s", c.Name)
		e.Text = fmt.Sprintf("Your subscription to %s has used all %d of this period's messages. More can be sent from %s, "+
			"or at once on a bigger tier: see %s/consultants/%s.\n", c.Name, a.Cap, resets, n.BaseURL, c.Slug)
	} else {
		e.Subject = fmt.Sprintf("You have used %d%% of your messages with %s", a.Percent, c.Name)
		e.Text = fmt.Sprintf("Your subscription to %s has used %d%% of this period's %d messages. The count starts again on %s; "+
			"a bigger tier gives more at once: see %s/consultants/%s.\n", c.Name, a.Percent, a.Cap, resets, n.BaseURL, c.Slug)
	}
	return n.Mailer.Send(ctx, e)
}
