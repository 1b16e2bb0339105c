#!/usr/bin/env python3
"""Decides whether a guest run passed, from its logs.

A run fails on: a guest that did not finish (timeout, crash, no `@@done`); any
kernel complaint in the console (oops, BUG, WARNING, panic, KASAN, UBSAN,
lockdep, kmemleak, hung task, soft lockup); a module that did not load or
unload; with --kunit, a KUnit failure or no KUnit output at all (without it,
any KUnit output of the module: a production build runs no tests); a guest
program that failed. The module's taint line (out-of-tree, unsigned) is shown.
In test mode the last line is the plain summary `N passed, N failed, N skipped`
over the host cargo tests, the KUnit cases and the guest tests.
"""
import argparse
import json
import os
import re
import subprocess
import sys

COMPLAINTS = re.compile(
    r"Oops|BUG:|WARNING:|Kernel panic|general protection fault|Call [Tt]race:|"
    r"page allocation stall|"
    r"UBSAN:|KASAN:|KFENCE:|kmemleak: \d+ new suspected memory leak|possible circular locking|"
    r"possible recursive locking|INFO: task .* blocked|soft lockup|hard LOCKUP|"
    r"rcu_.*detected stall|list_(add|del) corruption|Unable to handle kernel"
)
LIBTEST = re.compile(
    r"^test result: (ok|FAILED)\. (\d+) passed; (\d+) failed; (\d+) ignored", re.M
)


def libtest_counts(text):
    p = f = s = 0
    for m in LIBTEST.finditer(text):
        p += int(m.group(2))
        f += int(m.group(3))
        s += int(m.group(4))
    return p, f, s


def libtest_failures(text):
    """Each failed libtest test with the first lines of its panic message: ["name: message"]."""
    out, text = [], text.replace("\r", "")
    for name in re.findall(r"^test (\S+) \.\.\. FAILED", text, re.M):
        m = re.search(rf"^---- {re.escape(name)} stdout ----\n(.*?)(?=^----|^failures:|\Z)", text, re.M | re.S)
        why = ""
        if m:
            lines = [l.strip() for l in m.group(1).splitlines() if l.strip() and not l.startswith("note:")]
            # A child's panic (quoted "child| ... panicked at file:line", then
            # its message) says which assertion failed: keep it too.
            picked = lines[:3]
            for i, l in enumerate(lines[3:], 3):
                if "panicked at" in l:
                    picked += lines[i:i + 2]
            why = " / ".join(picked)[:800]
        # A child process's panic goes to the guest's output, outside the
        # test's own section: the panics of other threads of the test's module
        # (its child roles) follow.
        module = name.rsplit("::", 1)[0]
        for child, where, msg in re.findall(
            rf"^thread '({re.escape(module)}::[^']*)' \(\d+\) panicked at (\S+)\n(.*)$", text, re.M
        ):
            if child != name:
                why += f" / {child} panicked at {where} {msg.strip()}"[:400]
        out.append(f"{name}: {why}" if why else name)
    return out


def strip_ts(line):
    return re.sub(r"^\[[^]]*\]\s?", "", line).rstrip("\r")


def kunit_parse(args, path):
    """Has the kernel's kunit.py parse a KTAP file: (counts or None, its output, its status)."""
    tool = os.path.join(args.ksrc, "tools/testing/kunit/kunit.py")
    out = subprocess.run([sys.executable, tool, "parse", path], capture_output=True, text=True)
    m = re.search(r"Testing complete\. Ran (\d+) tests: ?(.*)", out.stdout)
    if not m:
        return None, out.stdout + out.stderr, out.returncode
    counts = dict((k.strip(), int(v)) for k, v in re.findall(r"(\w+): (\d+)", m.group(2)))
    return counts, out.stdout + out.stderr, out.returncode


def results_ktap(module_ktap, user):
    """One KTAP document for everything the guest ran, as kselftest's helpers print it: the
    module's KUnit suites as they are, the guest test program's libtest cases as one suite,
    the fuzzer and the demo as one test each."""
    items = []  # (indented lines, "ok" or "not ok", name and directive)
    block = []
    for line in (module_ktap or "").splitlines():
        b = strip_ts(line)
        m = re.match(r"(not ok|ok) \d+ (\S.*)$", b)
        if m:
            items.append((block, m.group(1), m.group(2)))
            block = []
        elif b.startswith("    "):
            block.append(b)
    cases = re.findall(r"^test (\S+) \.\.\. (ok|FAILED|ignored)", user, re.M)
    if cases:
        block = ["    KTAP version 1", "    # Subtest: guest-tests", f"    1..{len(cases)}"]
        for i, (name, res) in enumerate(cases, 1):
            block.append({"ok": f"    ok {i} {name}", "FAILED": f"    not ok {i} {name}"}.get(
                res, f"    ok {i} {name} # SKIP ignored"))
        items.append((block, "not ok" if any(r == "FAILED" for _, r in cases) else "ok", "guest-tests"))
    for m in re.finditer(r"^fuzz: seed=\S+ iterations=\d+ combos=\d+ mismatches=(\d+)", user, re.M):
        items.append(([], "ok" if m.group(1) == "0" else "not ok", "vmo-fuzz"))
    if re.search(r"^@@begin vmoctl", user, re.M):
        ok = re.search(r"^demo: all \d+ steps as expected", user, re.M) and re.search(r"^@@end vmoctl rc=0", user, re.M)
        items.append(([], "ok" if ok else "not ok", "vmoctl-demo"))
    doc = ["KTAP version 1", f"1..{len(items)}"]
    for i, (lines, res, name) in enumerate(items, 1):
        doc += lines
        doc.append(f"{res} {i} {name}")
    return "\n".join(doc) + "\n", len(items)


def kunit(args, console):
    """Cuts the module's KTAP out of the console and has kunit.py parse it."""
    lines = console.splitlines()
    begin = next((i for i, l in enumerate(lines) if "vmo-harness: insmod begin" in l), None)
    end = next((i for i, l in enumerate(lines) if "vmo-harness: insmod end" in l), len(lines))
    if begin is None:
        return None, "the guest never reached insmod"
    ktap = "\n".join(strip_ts(l) for l in lines[begin + 1 : end]) + "\n"
    path = os.path.join(args.build, "ktap.log")
    with open(path, "w") as fh:
        fh.write(ktap)
    if "KTAP version" not in ktap:
        return None, "no KTAP output from the module's KUnit suites"
    counts, log, rc = kunit_parse(args, path)
    with open(os.path.join(args.build, "kunit-parse.log"), "w") as fh:
        fh.write(log)
    if counts is None:
        return None, "kunit.py parse found no results (see kunit-parse.log)"
    suites = re.findall(r"# Subtest: (\S+)", ktap)
    # The failing cases by name, from the KTAP itself ("not ok N name" under its suite).
    failed, suite = [], None
    for l in ktap.splitlines():
        body = re.sub(r"^\[[^]]*\]\s*", "", l)
        m = re.match(r"\s*# Subtest: (\S+)", body)
        if m:
            suite = m.group(1)
        m = re.match(r"(\s*)not ok \d+ (\S+)", body)
        if m and m.group(1):
            failed.append(f"{suite}.{m.group(2)}")
    assertion = [re.sub(r"^\[[^]]*\]\s*", "", l).strip() for l in ktap.splitlines() if "ASSERTION FAILED" in l]
    failed += assertion
    return (counts, suites, failed, rc), None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ksrc", required=True)
    ap.add_argument("mode")
    ap.add_argument("build")
    ap.add_argument("qemu_rc", type=int)
    ap.add_argument("timeout", type=int)
    ap.add_argument("--counts", help="also write the counts as JSON to this file")
    ap.add_argument("--label", default="", help="prefix of the printed lines (e.g. an arch)")
    ap.add_argument("--no-summary", action="store_true", help="do not print the summary line")
    ap.add_argument("--no-host", action="store_true", help="this pass has no host cargo tests")
    ap.add_argument("--kunit", action="store_true",
                    help="the module was built with its KUnit suites (CONFIG_VMO_KUNIT_TEST=y)")
    args = ap.parse_args()
    args.build = os.path.abspath(args.build)

    read = lambda n: open(os.path.join(args.build, n), errors="replace").read() if os.path.exists(os.path.join(args.build, n)) else ""
    console, user = read("console.log"), read("user.log")
    problems = []
    passed = failed = skipped = 0
    host = (0, 0, 0)

    if args.qemu_rc == 124 or args.qemu_rc == 137:
        problems.append(f"guest hung: killed after the {args.timeout} s timeout")
    elif args.qemu_rc != 0:
        problems.append(f"QEMU exited with status {args.qemu_rc}")
    if "@@done" not in user:
        problems.append("guest did not finish its program list (no @@done marker)")

    lint = read("lint-failed").strip()
    if lint:
        problems.append(lint)

    complaints = [l for l in console.splitlines() if COMPLAINTS.search(l)]
    if complaints:
        problems.append("kernel complaints in the console:\n      " + "\n      ".join(complaints[:20]))

    leaks = re.findall(r"^@@kmemleak (unreferenced object.*)$", user, re.M)
    if leaks:
        problems.append("kmemleak found unreferenced objects:\n      " + "\n      ".join(leaks[:10]))

    m = re.search(r"^@@insmod rc=(\d+)", user, re.M)
    if not m and "vmo-harness: insmod begin" in console:
        problems.append("the guest died while loading the module (its KUnit suites run at insmod)")
    elif not m:
        problems.append("the module was never loaded")
    elif m.group(1) != "0":
        tail = "\n      ".join(console.splitlines()[-15:])
        problems.append(f"insmod vmo.ko failed (rc={m.group(1)}); console tail:\n      {tail}")
    if m and m.group(1) == "0" and "@@rmmod rc=0" not in user and "@@done" in user:
        problems.append("rmmod vmo failed after the programs ran (a reference leaked?)")

    taints = sorted({re.sub(r"^\[[^]]*\]\s*", "", l).strip() for l in console.splitlines() if "taint" in l.lower()})
    for t in taints:
        print(f"   {args.label}taint: {t}")

    res, err = kunit(args, console) if args.kunit else (None, None)
    if not args.kunit:
        if re.search(r"# Subtest: vmo_", console):
            problems.append("the module ran KUnit suites although it was built without them")
    elif err:
        problems.append(err)
    else:
        counts, suites, kfailed, rc = res
        kp, kf = counts.get("passed", 0), counts.get("failed", 0) + counts.get("crashed", 0) + counts.get("errors", 0)
        ks = counts.get("skipped", 0)
        print(f"   {args.label}kunit: {kp} passed, {kf} failed, {ks} skipped in {len(set(suites))} suites ({', '.join(sorted(set(suites)))})")
        if kf or rc != 0:
            problems.append("KUnit failures:\n      " + "\n      ".join(kfailed or ["(see kunit-parse.log)"]))
        if kp + kf == 0:
            problems.append("KUnit ran no test")
        passed, failed, skipped = passed + kp, failed + kf, skipped + ks

    for m in re.finditer(r"^@@end (\S+) rc=(\d+)", user, re.M):
        if m.group(2) != "0":
            problems.append(f"guest program {m.group(1)} exited with status {m.group(2)}")
    for name in re.findall(r"^@@begin (\S+)", user, re.M):
        if not re.search(rf"^@@end {re.escape(name)} ", user, re.M):
            problems.append(f"guest program {name} never finished")

    # The fuzzer: one check, passed when its model saw no mismatch.
    for m in re.finditer(r"^(fuzz: seed=\S+ iterations=(\d+) combos=(\d+) mismatches=(\d+).*)$", user, re.M):
        print(f"   {args.label}{m.group(1)}")
        if m.group(4) == "0":
            passed += 1
        else:
            failed += 1
            problems.append(f"the fuzzer's model saw {m.group(4)} mismatches (see user.log)")
    if re.search(r"^@@begin vmo-fuzz", user, re.M) and not re.search(r"^fuzz: seed=", user, re.M):
        problems.append("the fuzzer printed no summary")

    if args.mode == "test" and "@@begin" in user:
        gp, gf, gs = libtest_counts(user)
        print(f"   {args.label}guest: {gp} passed, {gf} failed, {gs} skipped")
        for f in libtest_failures(user):
            print(f"   {args.label}guest FAILED {f}")
        if gp + gf == 0:
            problems.append("the guest tests ran no test")
        hp = hf = hs = 0
        if not args.no_host:
            hp, hf, hs = libtest_counts(read("host-tests.log"))
            print(f"   host: {hp} passed, {hf} failed, {hs} skipped")
            if hp + hf == 0:
                problems.append("the host cargo tests ran no test (see host-tests.log)")
        passed, failed, skipped = passed + gp + hp, failed + gf + hf, skipped + gs + hs
        host = (hp, hf, hs)

    # One result format: everything the guest ran, in one KTAP document that kunit.py
    # parses; its totals (plus the host's cargo tests) are the pass's counts.
    doc, n = results_ktap(open(os.path.join(args.build, "ktap.log")).read()
                          if args.kunit and os.path.exists(os.path.join(args.build, "ktap.log")) else "", user)
    if n:
        path = os.path.join(args.build, "results.ktap")
        with open(path, "w") as fh:
            fh.write(doc)
        counts, log, _ = kunit_parse(args, path)
        with open(os.path.join(args.build, "results-parse.log"), "w") as fh:
            fh.write(log)
        if counts is None:
            problems.append("kunit.py parse could not read results.ktap (see results-parse.log)")
        else:
            gp = counts.get("passed", 0)
            gf = counts.get("failed", 0) + counts.get("crashed", 0) + counts.get("errors", 0)
            gs = counts.get("skipped", 0)
            print(f"   {args.label}results.ktap (kunit.py parse): {gp} passed, {gf} failed, {gs} skipped")
            passed, failed, skipped = gp + host[0], gf + host[1], gs + host[2]

    for p in problems:
        print(f"FAIL: {args.label}{p}")
    if problems and failed == 0:
        failed = 1  # a failure that no test counted (a crash, a timeout) still fails the run
    if args.counts:
        with open(args.counts, "w") as fh:
            json.dump({"passed": passed, "failed": failed, "skipped": skipped,
                       "problems": len(problems)}, fh)
    if args.mode == "test" and not args.no_summary:
        print(f"{passed} passed, {failed} failed, {skipped} skipped")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
