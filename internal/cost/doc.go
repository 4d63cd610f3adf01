// Package cost is grsync's price table and the cost estimates it prints on
// every plan: what an upload, a month of storage, a restore or an early
// deletion will be billed, line by line ("what and why"), with a total the
// CLI can hold against --max-cost.
//
// # The price table
//
// Default is the built-in table of AWS list prices for us-east-1, per
// storage class (STANDARD, INTELLIGENT_TIERING, STANDARD_IA, ONEZONE_IA,
// GLACIER_IR, GLACIER, DEEP_ARCHIVE) and for Glacier vaults (Vault), with
// the billing rules that make small objects expensive: minimum storage
// durations, minimum billable sizes and the per-object overhead of the
// archive classes. docs/COSTS.md gives the source and date of every figure.
// A prices file (ReadFile, Parse; JSON, strict) replaces any of them, for
// another region or negotiated prices.
//
// # Estimators
//
// The estimators are pure methods of *Prices (no I/O, no clock): Storage,
// Upload, Restore, EarlyDeletion and EarliestDelete. Each takes groups of
// equal-sized objects, so a caller who knows every size is exact and one
// who knows only a count and a total gets the average-size estimate. They
// return an Estimate: Lines with quantity, unit price and amount, a Total,
// and Notes (assumptions such as the free transfer allowance, which is not
// subtracted). Amounts are Money, exact to the nano-dollar.
//
// Units are AWS's: a GB is 2^30 bytes, a KB 1,024 bytes, and a month of
// prorated storage is 30 days.
package cost
