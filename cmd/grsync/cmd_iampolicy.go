package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/grsync/grsync/internal/iampolicy"
	"github.com/grsync/grsync/internal/store/s3store"
)

// iamPolicyOptions are iam-policy's own flags; --object-lock and
// --lock-days are everyone's (the catalogue remembers a target's lock, so
// without them the policy fits the catalogue's target).
type iamPolicyOptions struct {
	appendOnly         bool
	policy             string
	account, principal string
}

func (o *iamPolicyOptions) addFlags(f *pflag.FlagSet) {
	f.BoolVar(&o.appendOnly, "append-only", false, "no delete at all: for the machine that runs the nightly sync (prune runs elsewhere)")
	f.StringVar(&o.policy, "policy", "iam", "which policy: iam (for the user or role), vault-access or vault-lock (vaults)")
	f.StringVar(&o.account, "account", "", "the vault's 12-digit AWS account id (default: a placeholder to replace)")
	f.StringVar(&o.principal, "principal", "", "vault-access: the ARN of the user or role grsync runs as (default: a placeholder)")
}

func (a *app) iamPolicyCommand() *cobra.Command {
	o := &iamPolicyOptions{}
	cmd := &cobra.Command{
		Use:   "iam-policy [--append-only] [--policy iam|vault-access|vault-lock]",
		Short: "Print the AWS policy that lets grsync use the target and nothing more",
		Long: `Print, as JSON on standard output, the policy that lets grsync work with the
target (--bucket and --prefix, --vault and --region, or the catalogue's target)
and do nothing else: exactly the actions sync, restore, verify and prune call, on
exactly that bucket and prefix or vault. Notes on standard error say how to apply
it and what it cannot prevent. Nothing is sent to AWS. A target whose catalogue
records an object lock gets the policy for it without --object-lock.

--append-only leaves out every delete, for the machine that runs the nightly
sync: its key, if stolen, cannot delete or replace what is stored. Run prune
elsewhere with the full policy. With --object-lock the policy adds what a locked
bucket needs (extending locks, never shortening them) and forbids locking
anything for longer than --lock-days. For a vault, --policy vault-access prints
the matching vault access policy and --policy vault-lock a Vault Lock policy
that denies deleting archives younger than --lock-days days.`,
		Example: `  grsync iam-policy --bucket my-backups --prefix laptop --append-only > nightly.json
  aws iam put-user-policy --user-name grsync-nightly --policy-name grsync --policy-document file://nightly.json
  grsync iam-policy --vault photos --region eu-west-1 --account 111122223333 --policy vault-lock`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.runIAMPolicy(o) },
	}
	o.addFlags(cmd.Flags())
	return cmd
}

func (a *app) runIAMPolicy(o *iamPolicyOptions) error {
	kind, err := iampolicy.ParseKind(o.policy)
	if err != nil {
		return usagef("use --policy iam, vault-access or vault-lock", "%v", err)
	}
	p, err := a.peekTarget()
	if err != nil {
		return err
	}
	p.close()
	loc := p.loc
	if loc == "" {
		return usagef("give --bucket NAME [--prefix P], or --vault NAME --region R", "no target to write a policy for")
	}
	target, err := iampolicy.ParseLocation(loc)
	if err != nil {
		return usagef("iam-policy is for --bucket or --vault targets", "%s: %v", loc, err)
	}
	if !target.IsVault() {
		target.Region = a.g.region
	}
	opt := iampolicy.Options{AppendOnly: o.appendOnly, Account: o.account, Principal: o.principal, LockDays: a.g.lockDays}
	lock := lockSetting{mode: a.g.lockMode, days: a.g.lockDays}
	if lock.mode == "" && p.found && kind == iampolicy.KindIAM {
		lock = targetLock(p.target) // the catalogue's, when the flags do not say
		if a.g.lockDays == 0 {
			opt.LockDays = lock.days
		}
	}
	if lock.mode != "" {
		opt.ObjectLock = true
		if opt.LockDays == 0 {
			opt.LockDays = s3store.DefaultLockDays(a.g.storageClass)
		}
	} else if a.g.lockDays != 0 && kind != iampolicy.KindVaultLock {
		return usagef("give --object-lock governance or compliance with --lock-days", "--lock-days %d without --object-lock", a.g.lockDays)
	}
	doc, err := iampolicy.Policy(kind, target, opt)
	if err != nil {
		return usagef("see grsync iam-policy --help", "%s policy for %s: %v", kind, loc, err)
	}
	if _, err := a.stdout.Write(doc.JSON()); err != nil {
		return err
	}
	for _, n := range iampolicy.Notes(kind, target, opt) {
		fmt.Fprintf(a.stderr, "grsync: %s\n", n)
	}
	return nil
}
