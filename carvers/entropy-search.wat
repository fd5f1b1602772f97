;; The search for the marker that ends a JPEG's entropy-coded data (ITU T.81 B.1.1.5,
;; F.1.2.3): the first FF that is not followed by 00 (a stuffed FF), D0-D7 (RSTn) or FF
;; (a fill byte before a marker). Built into carvers/entropy-search-wasm.ts by
;; `node tools/build-wasm.mjs`; test/entropy-search.test.ts checks the two agree.
;;
;; Why WebAssembly: entropy-coded data holds an FF about every 200 bytes, and calling
;; Buffer.indexOf once per FF costs more than the search itself. Here 64 bytes are looked
;; at a step and the FFs are handled without leaving the loop.
(module
  ;; Shared, so that the read-ahead thread can read the card straight into it.
  (import "env" "memory" (memory 1 65536 shared))

  ;; Set by findMarker when it passed 3 blocks of 64 bytes in a row below 0x80: a run of
  ;; 256 such bytes cannot be missed (what of it is not in whole blocks lies in the block it
  ;; starts in and the block it ends in, at most 63 bytes each, so 130 or more are: that is
  ;; 3 blocks), and in real scan data such blocks are rare, so lowRun, which measures runs,
  ;; need only be called when this is set.
  (global $sawLow (mut i32) (i32.const 0))
  (func (export "sawLow") (result i32) (global.get $sawLow))

  ;; In [p, end): the position of the first marker's FF; end - 1 when the last byte is an
  ;; FF and what follows it is not in hand; end when there is no marker.
  ;;
  ;; 64 bytes a step. Scan data holds an FF about every 200 bytes, so about one step in
  ;; five has one, but nearly all of them are stuffed (FF 00). The step first looks for an FF
  ;; followed by anything but 00, comparing every byte with the one after it without
  ;; branching on the data; only a step with such a pair (a marker, an RSTn, a fill byte) is
  ;; looked at closely: an FF followed by 00, D0-D7 or FF is no marker. Branching on every
  ;; FF (as this did before) left the branch unpredictable: 0.18 s for the 2 GiB JPEG bench
  ;; card, against 0.10 s so. The high bits of the four vectors feed the low-run count. The
  ;; close look loads its bytes again rather than keeping the four vectors: kept, they were
  ;; live across the branch, and V8 stored all four to the stack on every step. (Skipping the
  ;; byte after a stuffed FF, as a byte-by-byte search does, changes nothing: that byte is
  ;; never FF.)
  (func (export "findMarker") (param $p i32) (param $end i32) (result i32)
    (local $v0 v128) (local $v1 v128) (local $v2 v128) (local $v3 v128)
    (local $c0 v128) (local $c1 v128) (local $c2 v128) (local $c3 v128)
    (local $n v128) (local $m v128) (local $b i32) (local $lows i32) (local $saw i32)
    (local $ff v128) (local $zero v128) (local $d0 v128) (local $eight v128)
    (local.set $ff (i8x16.splat (i32.const 0xff)))
    (local.set $d0 (i8x16.splat (i32.const 0xd0)))
    (local.set $eight (i8x16.splat (i32.const 8)))
    (block $tail
      (loop $wide
        (br_if $tail (i32.gt_u (i32.add (local.get $p) (i32.const 65)) (local.get $end)))
        (local.set $v0 (v128.load align=1 (local.get $p)))
        (local.set $v1 (v128.load offset=16 align=1 (local.get $p)))
        (local.set $v2 (v128.load offset=32 align=1 (local.get $p)))
        (local.set $v3 (v128.load offset=48 align=1 (local.get $p)))
        (local.set $lows (i32.mul (i32.add (local.get $lows) (i32.const 1))
          (i32.eqz (i8x16.bitmask (v128.or (v128.or (local.get $v0) (local.get $v1)) (v128.or (local.get $v2) (local.get $v3)))))))
        (local.set $saw (i32.or (local.get $saw) (i32.ge_u (local.get $lows) (i32.const 3))))
        ;; An FF followed by anything but 00: most FFs in scan data are stuffed.
        (if (v128.any_true (v128.or
              (v128.or
                (v128.andnot (i8x16.eq (local.get $v0) (local.get $ff)) (i8x16.eq (v128.load offset=1 align=1 (local.get $p)) (local.get $zero)))
                (v128.andnot (i8x16.eq (local.get $v1) (local.get $ff)) (i8x16.eq (v128.load offset=17 align=1 (local.get $p)) (local.get $zero))))
              (v128.or
                (v128.andnot (i8x16.eq (local.get $v2) (local.get $ff)) (i8x16.eq (v128.load offset=33 align=1 (local.get $p)) (local.get $zero)))
                (v128.andnot (i8x16.eq (local.get $v3) (local.get $ff)) (i8x16.eq (v128.load offset=49 align=1 (local.get $p)) (local.get $zero))))))
          (then
            (local.set $c0 (v128.andnot (i8x16.eq (v128.load align=1 (local.get $p)) (local.get $ff))
              (v128.or (v128.or
                  (i8x16.eq (local.tee $n (v128.load offset=1 align=1 (local.get $p))) (local.get $zero))
                  (i8x16.eq (local.get $n) (local.get $ff)))
                (i8x16.lt_u (i8x16.sub (local.get $n) (local.get $d0)) (local.get $eight)))))
            (local.set $c1 (v128.andnot (i8x16.eq (v128.load offset=16 align=1 (local.get $p)) (local.get $ff))
              (v128.or (v128.or
                  (i8x16.eq (local.tee $n (v128.load offset=17 align=1 (local.get $p))) (local.get $zero))
                  (i8x16.eq (local.get $n) (local.get $ff)))
                (i8x16.lt_u (i8x16.sub (local.get $n) (local.get $d0)) (local.get $eight)))))
            (local.set $c2 (v128.andnot (i8x16.eq (v128.load offset=32 align=1 (local.get $p)) (local.get $ff))
              (v128.or (v128.or
                  (i8x16.eq (local.tee $n (v128.load offset=33 align=1 (local.get $p))) (local.get $zero))
                  (i8x16.eq (local.get $n) (local.get $ff)))
                (i8x16.lt_u (i8x16.sub (local.get $n) (local.get $d0)) (local.get $eight)))))
            (local.set $c3 (v128.andnot (i8x16.eq (v128.load offset=48 align=1 (local.get $p)) (local.get $ff))
              (v128.or (v128.or
                  (i8x16.eq (local.tee $n (v128.load offset=49 align=1 (local.get $p))) (local.get $zero))
                  (i8x16.eq (local.get $n) (local.get $ff)))
                (i8x16.lt_u (i8x16.sub (local.get $n) (local.get $d0)) (local.get $eight)))))
            (if (v128.any_true (v128.or (v128.or (local.get $c0) (local.get $c1)) (v128.or (local.get $c2) (local.get $c3))))
              (then
                (global.set $sawLow (local.get $saw))
                (return (i32.add (local.get $p) (i32.wrap_i64 (i64.ctz (i64.or
                  (i64.extend_i32_u (i32.or (i8x16.bitmask (local.get $c0)) (i32.shl (i8x16.bitmask (local.get $c1)) (i32.const 16))))
                  (i64.shl
                    (i64.extend_i32_u (i32.or (i8x16.bitmask (local.get $c2)) (i32.shl (i8x16.bitmask (local.get $c3)) (i32.const 16))))
                    (i64.const 32)))))))))))
        (local.set $p (i32.add (local.get $p) (i32.const 64)))
        (br $wide)))
    ;; The last bytes, one at a time (a low run ending here still had 3 whole blocks above).
    (global.set $sawLow (local.get $saw))
    (loop $narrow
      (if (i32.ge_u (local.get $p) (local.get $end)) (then (return (local.get $end))))
      (if (i32.eq (i32.load8_u (local.get $p)) (i32.const 0xff))
        (then
          (if (i32.ge_u (i32.add (local.get $p) (i32.const 1)) (local.get $end)) (then (return (local.get $p))))
          (local.set $b (i32.load8_u offset=1 (local.get $p)))
          (if (i32.eqz (i32.or (i32.or (i32.eqz (local.get $b)) (i32.eq (local.get $b) (i32.const 0xff)))
                               (i32.lt_u (i32.sub (local.get $b) (i32.const 0xd0)) (i32.const 8))))
            (then (return (local.get $p))))))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (br $narrow))
    (unreachable))

  ;; Where the last run lowRun found ends.
  (global $runEnd (mut i32) (i32.const 0))
  (func (export "runEnd") (result i32) (global.get $runEnd))

  ;; The next run of 256 or more bytes below 0x80 in [from, to), probing from p every 256
  ;; bytes: its start (its end from runEnd), or -1. The 00 after a stuffed FF is not scan
  ;; data and ends a run. Runs shorter than 256 are stepped over.
  (func (export "lowRun") (param $from i32) (param $to i32) (param $p i32) (result i32)
    (local $s i32) (local $e i32)
    (loop $probe
      (if (i32.ge_u (local.get $p) (local.get $to)) (then (return (i32.const -1))))
      (if (i32.ge_u (i32.load8_u (local.get $p)) (i32.const 0x80))
        (then
          (local.set $p (i32.add (local.get $p) (i32.const 256)))
          (br $probe)))
      ;; A low byte at p: the run around it.
      (local.set $s (local.get $p))
      (if (i32.eq (i32.load8_u (i32.sub (local.get $p) (i32.const 1))) (i32.const 0xff))
        (then (local.set $s (i32.add (local.get $p) (i32.const 1))))
        (else
          (block $start
            (loop $back
              (br_if $start (i32.le_u (local.get $s) (local.get $from)))
              (br_if $start (i32.ge_u (i32.load8_u (i32.sub (local.get $s) (i32.const 1))) (i32.const 0x80)))
              (if (i32.ge_u (local.get $s) (i32.add (local.get $from) (i32.const 2)))
                (then (br_if $start (i32.eq (i32.load8_u (i32.sub (local.get $s) (i32.const 2))) (i32.const 0xff)))))
              (local.set $s (i32.sub (local.get $s) (i32.const 1)))
              (br $back)))))
      (local.set $e (select (local.get $s) (i32.add (local.get $p) (i32.const 1)) (i32.gt_u (local.get $s) (local.get $p))))
      (block $stop
        (loop $forward
          (br_if $stop (i32.ge_u (local.get $e) (local.get $to)))
          (br_if $stop (i32.ge_u (i32.load8_u (local.get $e)) (i32.const 0x80)))
          (local.set $e (i32.add (local.get $e) (i32.const 1)))
          (br $forward)))
      (if (i32.ge_u (i32.sub (local.get $e) (local.get $s)) (i32.const 256))
        (then
          (global.set $runEnd (local.get $e))
          (return (local.get $s))))
      (local.set $p (i32.add (local.get $e) (i32.const 256)))
      (br $probe))
    (unreachable))
)
