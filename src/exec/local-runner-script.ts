// The local job runner's program (issue 17): a small Perl process that forks local jobs for pegasus, so that starting one does not fork the whole Node process.

/**
 * Perl, with one core module (Fcntl, in Debian's perl-base; not POSIX, whose 1.6 MB of memory each
 * fork would copy: the runner ran 200 one-at-a-time jobs about 10% faster without it). It talks to pegasus
 * over its stdin and stdout, in lines, each body given by its length in bytes:
 *
 * - in:  `R id n\n` + n bytes: run that text with `/bin/sh -c`, in a process group of its own,
 *        stdin /dev/null, stdout and stderr to pipes of the runner. `P id` / `U id`: stop and go
 *        on reading a job's output (pegasus's backpressure). `F pgid`: forget a finished job's group.
 * - out: `ok\n` once started; `S id pid\n` started (pid = process group); `O id n\n` / `E id n\n` +
 *        n bytes of stdout / stderr; `X id status\n` when the job has exited and both its pipes are
 *        closed (status as wait(2) gives it); `N id message\n` when fork failed.
 *
 * It is also the guard of the jobs it started (as LocalGuard is for jobs pegasus spawns itself):
 * when its stdin ends (pegasus exited, or was SIGKILLed: the kernel closes the pipe) or pegasus
 * stops reading, every group not forgotten gets TERM, then KILL after the grace period; it leaves
 * as soon as they are gone. It does not act on INT and HUP, so a Ctrl-C or a closed terminal reaches
 * pegasus, which decides; it catches them rather than ignoring them, so a job's exec gives them
 * their default dispositions back. `waitpid(-1, 1)`: 1 is WNOHANG on Linux and the BSDs.
 */
export const RUNNER_SCRIPT = String.raw`
use strict; use warnings; use Fcntl ();
my $grace = $ARGV[0];
# Caught and dropped rather than ignored: exec gives a job default dispositions back by itself.
$SIG{INT} = $SIG{HUP} = $SIG{PIPE} = sub {};
open(my $null, '<', '/dev/null') or die "/dev/null: $!\n";
pipe(my $wake_r, my $wake_w) or die "pipe: $!\n";
fcntl($wake_w, Fcntl::F_SETFL(), Fcntl::O_NONBLOCK());
$SIG{CHLD} = sub { syswrite($wake_w, 'x') };
my (%job, %id_of, %group);
my ($in, $out, $gone) = ('', '', 0);
sub flush_out {
  while (length $out && !$gone) {
    my $n = syswrite(STDOUT, $out);
    if (!defined $n) { next if $!{EINTR}; $gone = 1; last }
    substr($out, 0, $n) = '';
  }
}
sub finish {
  my ($id) = @_;
  my $j = $job{$id};
  return if !defined $j->{status} || $j->{open};
  $out .= "X $id $j->{status}\n";
  delete $job{$id};
}
sub start {
  my ($id, $cmd) = @_;
  my ($or, $ow, $er, $ew);
  unless (pipe($or, $ow) && pipe($er, $ew)) { $out .= "N $id cannot make a pipe: $!\n"; return }
  my $pid = fork();
  unless (defined $pid) { $out .= "N $id cannot fork: $!\n"; return }
  if ($pid == 0) {
    setpgrp(0, 0);
    open(STDIN, '<&', $null); open(STDOUT, '>&', $ow); open(STDERR, '>&', $ew);
    exec { '/bin/sh' } '/bin/sh', '-c', $cmd;
    exit 127;
  }
  setpgrp($pid, $pid);
  close $ow; close $ew;
  $group{$pid} = 1;
  $id_of{$pid} = $id;
  $job{$id} = { open => 2, pipes => [['O', $or], ['E', $er]] };
  $out .= "S $id $pid\n";
}
sub commands {
  while (1) {
    my $nl = index($in, "\n");
    return if $nl < 0;
    my $line = substr($in, 0, $nl);
    if ($line =~ /^R (\d+) (\d+)$/) {
      return if length($in) < $nl + 1 + $2;
      my ($id, $cmd) = ($1, substr($in, $nl + 1, $2));
      substr($in, 0, $nl + 1 + $2) = '';
      start($id, $cmd);
      next;
    }
    substr($in, 0, $nl + 1) = '';
    if ($line =~ /^F (\d+)$/) { delete $group{$1} }
    elsif ($line =~ /^P (\d+)$/) { $job{$1}{paused} = 1 if $job{$1} }
    elsif ($line =~ /^U (\d+)$/) { delete $job{$1}{paused} if $job{$1} }
  }
}
sub reap {
  while ((my $pid = waitpid(-1, 1)) > 0) {
    my $id = delete $id_of{$pid};
    next unless defined $id && $job{$id};
    $job{$id}{status} = $?;
    finish($id);
  }
}
$out .= "ok\n";
flush_out();
my $eof = 0;
while (!$eof && !$gone) {
  my $rin = '';
  vec($rin, 0, 1) = 1;
  vec($rin, fileno $wake_r, 1) = 1;
  # In a fixed order, stdout before stderr: what a job wrote to stdout just before its stderr comes first.
  my @ids = sort { $a <=> $b } keys %job;
  for my $id (@ids) {
    next if $job{$id}{paused};
    vec($rin, fileno $_->[1], 1) = 1 for @{$job{$id}{pipes}};
  }
  # A job whose output is closed but whose exit was not seen yet is polled for, backing off: Perl runs
  # the SIGCHLD handler only between its own steps, so a signal that comes just before select() would
  # wake nobody, and a pipe's EOF can be seen a moment before its writer can be reaped.
  my $wait;
  for my $id (@ids) {
    my $j = $job{$id};
    next if $j->{open} || defined $j->{status};
    my $t = 0.001 * 2 ** $j->{polls}++;
    $t = 0.2 if $t > 0.2;
    $wait = $t if !defined $wait || $t < $wait;
  }
  my $n = select(my $rout = $rin, undef, undef, $wait);
  if ($n <= 0) { reap(); next }
  sysread($wake_r, my $junk, 512) if vec($rout, fileno $wake_r, 1);
  for my $id (@ids) {
    my $j = $job{$id};
    next if !$j || $j->{paused};
    for my $pipe (@{$j->{pipes}}) {
      my ($stream, $fh) = @$pipe;
      next unless vec($rout, fileno $fh, 1);
      my $got = sysread($fh, my $buf, 65536);
      next if !defined $got && ($!{EINTR} || $!{EAGAIN});
      if ($got) {
        $out .= "$stream $id $got\n" . $buf;
        next;
      }
      close $fh;
      $pipe = undef;
      $j->{open} -= 1;
    }
    $j->{pipes} = [grep { defined } @{$j->{pipes}}];
    finish($id);
  }
  reap();
  if (vec($rout, 0, 1)) {
    my $got = sysread(STDIN, $in, 65536, length $in);
    if (!defined $got) { $eof = 1 unless $!{EINTR} || $!{EAGAIN} }
    elsif ($got == 0) { $eof = 1 }
    else { commands() }
  }
  flush_out();
}
my @left = grep { kill 0, -$_ } keys %group;
exit 0 unless @left;
kill 'TERM', -$_ for @left;
for (1 .. $grace * 20) {
  select(undef, undef, undef, 0.05);
  1 while waitpid(-1, 1) > 0;
  @left = grep { kill 0, -$_ } @left;
  exit 0 unless @left;
}
kill 'KILL', -$_ for @left;
`;
