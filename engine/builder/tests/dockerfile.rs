//! The Dockerfile parser through the crate's API: instructions, lines, errors.

use berth_builder::dockerfile::*;

fn parse_str(text: &str) -> Result<Dockerfile, DockerfileError> {
    parse(text.as_bytes())
}

#[test]
fn stages_instructions_and_lines() {
    let d = parse_str(
        "ARG BASE=busybox\nFROM $BASE AS Build\n\nRUN echo a \\\n  # note\n  b\nCMD [\"sh\"]\nFROM scratch\nCOPY --from=build /a /b\n",
    )
    .unwrap();
    assert_eq!(d.global_args[0].value[0].name, "BASE");
    assert_eq!(d.stages.len(), 2);
    let first = &d.stages[0];
    assert_eq!(first.from.value.name.as_deref(), Some("build"));
    assert_eq!(first.from.line, 2);
    assert_eq!(first.instructions[0].line, 4);
    assert_eq!(
        first.instructions[0].value,
        Instruction::Run {
            flags: vec![],
            command: CommandForm::Shell("echo a   b".into()),
            heredocs: vec![]
        }
    );
    assert_eq!(first.instructions[0].original, "RUN echo a   b");
    assert_eq!(
        first.instructions[1].value,
        Instruction::Cmd(CommandForm::Exec(vec!["sh".into()]))
    );
    let Instruction::Copy(copy) = &d.stages[1].instructions[0].value else {
        panic!("not a COPY")
    };
    assert_eq!(copy.flags, vec![("from".into(), Some("build".into()))]);
    assert_eq!(copy.dest, "/b");
}

#[test]
fn env_label_and_arg_pairs_keep_their_quotes_for_substitution() {
    let d =
        parse_str("FROM a\nENV A=\"x y\" B=$A\nENV LEGACY some value\nLABEL \"k\"=v\nARG X Y=2\n")
            .unwrap();
    let i = &d.stages[0].instructions;
    assert_eq!(
        i[0].value,
        Instruction::Env(vec![
            ("A".into(), "\"x y\"".into()),
            ("B".into(), "$A".into())
        ])
    );
    assert_eq!(
        i[1].value,
        Instruction::Env(vec![("LEGACY".into(), "some value".into())])
    );
    assert_eq!(
        i[2].value,
        Instruction::Label(vec![("\"k\"".into(), "v".into())])
    );
    assert_eq!(
        i[3].value,
        Instruction::Arg(vec![
            ArgDecl {
                name: "X".into(),
                default: None
            },
            ArgDecl {
                name: "Y".into(),
                default: Some("2".into())
            }
        ])
    );
}

#[test]
fn every_instruction_parses() {
    let d = parse_str(
        "FROM busybox\nRUN [\"echo\", \"hi\"]\nENTRYPOINT [\"/bin/sh\"]\nEXPOSE 80 53/udp\n\
         ADD a.tar /x/\nVOLUME [\"/data\"]\nVOLUME /a /b\nUSER nobody:nogroup\nWORKDIR /w\n\
         STOPSIGNAL SIGINT\nSHELL [\"/bin/sh\", \"-ec\"]\nHEALTHCHECK --interval=5s CMD true\n\
         HEALTHCHECK NONE\nMAINTAINER me\nONBUILD RUN echo later\n",
    )
    .unwrap();
    let i: Vec<_> = d.stages[0].instructions.iter().map(|l| &l.value).collect();
    assert_eq!(
        *i[2],
        Instruction::Expose(vec!["80".into(), "53/udp".into()])
    );
    assert_eq!(*i[4], Instruction::Volume(vec!["/data".into()]));
    assert_eq!(*i[5], Instruction::Volume(vec!["/a".into(), "/b".into()]));
    assert_eq!(*i[6], Instruction::User("nobody:nogroup".into()));
    assert_eq!(
        *i[9],
        Instruction::Shell(vec!["/bin/sh".into(), "-ec".into()])
    );
    assert!(matches!(
        i[10],
        Instruction::Healthcheck(Healthcheck::Cmd { .. })
    ));
    assert_eq!(*i[11], Instruction::Healthcheck(Healthcheck::None));
    assert_eq!(*i[13], Instruction::Onbuild("RUN echo later".into()));
}

#[test]
fn heredocs_and_escape_directive() {
    let d = parse_str(
        "# escape=`\nFROM a\nRUN echo a `\n  b\nRUN <<EOF\necho hi\nEOF\nCOPY <<'X' /f\n$HOME\nX\n",
    )
    .unwrap();
    assert_eq!(d.escape, '`');
    let i = &d.stages[0].instructions;
    assert_eq!(i[0].original, "RUN echo a   b");
    let Instruction::Run { heredocs, .. } = &i[1].value else {
        panic!()
    };
    assert_eq!(heredocs[0].content, "echo hi\n");
    let Instruction::Copy(copy) = &i[2].value else {
        panic!()
    };
    assert_eq!(
        copy.sources[0],
        CopySource::Heredoc(Heredoc {
            name: "X".into(),
            content: "$HOME\n".into(),
            expand: false
        })
    );
    let d = parse_str(
        "FROM a\nCOPY <<one <<-\"two\" /dir/\n1\none\n\t2\ntwo\nRUN <<EOF bash\nx\nEOF\n",
    )
    .unwrap();
    let Instruction::Copy(copy) = &d.stages[0].instructions[0].value else {
        panic!()
    };
    let names: Vec<_> = copy
        .sources
        .iter()
        .map(|s| match s {
            CopySource::Heredoc(h) => (h.name.as_str(), h.content.as_str()),
            CopySource::Path(_) => ("", ""),
        })
        .collect();
    assert_eq!(names, vec![("one", "1\n"), ("two", "2\n")]);
    let Instruction::Run {
        command, heredocs, ..
    } = &d.stages[0].instructions[1].value
    else {
        panic!()
    };
    assert_eq!(command, &CommandForm::Shell("bash".into()));
    assert_eq!(heredocs[0].name, "EOF");
}

#[test]
fn a_heredoc_after_a_command_feeds_it() {
    let d =
        parse_str("FROM a\nRUN --network=none cat <<EOF > /x\nhello\nEOF\nRUN echo ok\n").unwrap();
    let i = &d.stages[0].instructions;
    assert_eq!(i[0].original, "RUN --network=none cat <<EOF > /x");
    let Instruction::Run {
        flags,
        command,
        heredocs,
    } = &i[0].value
    else {
        panic!()
    };
    assert_eq!(flags[0].0, "network");
    assert_eq!(command, &CommandForm::Shell("cat > /x".into()));
    assert_eq!(heredocs[0].content, "hello\n");
    assert_eq!(i[1].line, 5);
    // A `<<` that is not a heredoc stays as written.
    let d = parse_str("FROM a\nRUN echo $((1 << 2))\n").unwrap();
    assert_eq!(d.stages[0].instructions[0].original, "RUN echo $((1 << 2))");
}

#[test]
fn errors_carry_the_line() {
    let err = parse_str("FROM a\n\nFOO bar\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        "dockerfile parse error: unknown instruction 'FOO' at line 3 column 1"
    );
    let err = parse_str("FROM a\nENV =x\n").unwrap_err();
    assert!(err.to_string().contains("line 2"), "{err}");
    let err = parse_str("RUN x\n").unwrap_err();
    assert!(err.to_string().contains("FROM"), "{err}");
    assert_eq!(parse(b"FROM \xff").unwrap_err(), DockerfileError::NotUtf8);
    let err = parse_str("FROM a AS 1x\n").unwrap_err();
    assert!(
        err.to_string().contains("invalid name for build stage"),
        "{err}"
    );
}

#[test]
fn words_split_outside_quotes() {
    assert_eq!(
        split_words(r#"a "b c" 'd e' f\ g"#, '\\'),
        vec!["a", "\"b c\"", "'d e'", "f\\ g"]
    );
}

#[test]
fn a_byte_order_mark_is_dropped() {
    // Found by fuzzing: the parser's offsets did not index a text starting with a BOM.
    // Whatever it makes of the rest, it answers instead of panicking.
    let _ = parse(b"\xef\xbb\xbf ARG BASE=busybox\nFROM \0\0\x02\0BASE=bu");
    // And byte order marks inside the text, at a line's start (fuzzing again).
    let _ = parse(
        b"\xef\xbb\xbf\xef\xbb\xbfARG <sox2\nFROM \0\0\0\0\0\xef\xbb\xbf\nRUN e\"\0\0\x01\0x  /sy\\\nENV E\\=]\n",
    );
    let parsed = parse(b"\xef\xbb\xbfFROM busybox\nRUN true\n").unwrap();
    assert_eq!(parsed.stages.len(), 1);
}
