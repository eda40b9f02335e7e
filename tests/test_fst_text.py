"""OpenFST / Kaldi text import: round trips, OpenFST's own printer and compiler, errors."""

import numpy as np
import pytest

from sw.decoder import DecoderOptions, decode
from sw.fst_text import read_fst_text, read_symbol_table, write_fst_text
from sw.graph import GraphError, random_graph
from sw.graph_build import build_digit_loop, random_lexicon
from sw.peers import to_kaldi_fst


def same_graph(a, b, rtol=1e-7, words=True):
    assert a.start == b.start
    assert np.array_equal(a.state_offset, b.state_offset)
    assert np.array_equal(a.arc_dest, b.arc_dest)
    assert np.array_equal(a.arc_ilabel, b.arc_ilabel)
    assert np.array_equal(a.arc_olabel, b.arc_olabel)
    assert np.allclose(a.arc_cost, b.arc_cost, rtol=rtol, atol=0)
    assert np.array_equal(np.isfinite(a.final_cost), np.isfinite(b.final_cost))
    finite = np.isfinite(a.final_cost)
    assert np.allclose(a.final_cost[finite], b.final_cost[finite], rtol=rtol, atol=0)
    if words:
        assert a.words == b.words


@pytest.mark.parametrize("seed", range(5))
def test_round_trip_through_text(tmp_path, seed):
    graph = random_graph(seed, num_states=40, num_pdfs=7)
    write_fst_text(graph, tmp_path / "g.txt", tmp_path / "words.txt")
    again = read_fst_text(tmp_path / "g.txt", num_pdfs=7, words_path=tmp_path / "words.txt")
    same_graph(graph, again)


def test_builder_graph_round_trip_decodes_the_same(tmp_path):
    graph = build_digit_loop(random_lexicon(3, num_words=10))
    write_fst_text(graph, tmp_path / "g.txt", tmp_path / "words.txt")
    again = read_fst_text(tmp_path / "g.txt", num_pdfs=graph.num_pdfs,
                          words_path=tmp_path / "words.txt")
    loglik = np.random.default_rng(0).normal(size=(40, graph.num_pdfs))
    options = DecoderOptions(beam=10.0)
    assert decode(graph, loglik, options).words == decode(again, loglik, options).words


def test_reads_what_openfst_prints(tmp_path):
    graph = random_graph(11, num_states=30, num_pdfs=5)
    # str() of a kaldifst FST is OpenFST's fstprint output (6 significant digits).
    (tmp_path / "g.txt").write_text(str(to_kaldi_fst(graph)))
    again = read_fst_text(tmp_path / "g.txt", num_pdfs=5)
    same_graph(graph, again, rtol=1e-5, words=False)
    assert again.words[0] == "<eps>"


def test_openfst_compiles_what_we_write(tmp_path):
    import kaldifst

    graph = random_graph(12, num_states=25, num_pdfs=5)
    write_fst_text(graph, tmp_path / "g.txt")
    fst = kaldifst.compile((tmp_path / "g.txt").read_text(), keep_state_numbering=True)
    assert fst.num_states == graph.num_states
    assert fst.start == graph.start
    assert sum(fst.num_arcs(s) for s in range(fst.num_states)) == graph.num_arcs


def test_symbols_sparse_states_and_ilabel_map(tmp_path):
    (tmp_path / "g.txt").write_text(
        "10\t30\tAA\tcat\t0.5\n"
        "10\t20\tBB\t<eps>\n"
        "20\t30\t<eps>\tdog\t1.25\n"
        "30\t0.75\n")
    (tmp_path / "words.txt").write_text("<eps> 0\ncat 4\ndog 9\n")
    (tmp_path / "isyms.txt").write_text("<eps> 0\nAA 1\nBB 2\n")
    (tmp_path / "map.txt").write_text("1 5\n2 0\n")
    graph = read_fst_text(tmp_path / "g.txt", num_pdfs=6, words_path=tmp_path / "words.txt",
                          isymbols_path=tmp_path / "isyms.txt",
                          ilabel_map_path=tmp_path / "map.txt")
    assert graph.num_states == 3 and graph.start == 0
    assert graph.words == ("<eps>", "cat", "dog")
    assert graph.arc_dest.tolist() == [2, 1, 2]
    assert graph.arc_ilabel.tolist() == [6, 1, 0]
    assert graph.arc_olabel.tolist() == [1, 0, 2]
    assert graph.arc_cost.tolist() == [0.5, 0.0, 1.25]
    assert graph.final_cost[2] == 0.75


def test_start_is_the_first_line_state(tmp_path):
    (tmp_path / "g.txt").write_text("2\t0\t1\t0\n0\t1\t1\t0\n1\n")
    graph = read_fst_text(tmp_path / "g.txt", num_pdfs=1)
    assert graph.start == 2
    assert graph.final_cost[1] == 0.0


def test_symbol_table_reader(tmp_path):
    (tmp_path / "s.txt").write_text("<eps> 0\nhello 1\n\n")
    assert read_symbol_table(tmp_path / "s.txt") == {"<eps>": 0, "hello": 1}


# One test per error message.

def write(tmp_path, text, name="g.txt"):
    (tmp_path / name).write_text(text)
    return tmp_path / name


def test_wrong_field_count(tmp_path):
    with pytest.raises(GraphError, match=r"g.txt:2: expected 'src dest ilabel olabel \[weight\]'"):
        read_fst_text(write(tmp_path, "0 1 1 0\n1 2 3\n"), num_pdfs=3)


def test_state_not_an_integer(tmp_path):
    with pytest.raises(GraphError, match="g.txt:1: state 'x' must be an integer >= 0"):
        read_fst_text(write(tmp_path, "x 1 1 0\n"), num_pdfs=3)


def test_destination_not_an_integer(tmp_path):
    with pytest.raises(GraphError, match="destination 'y' must be an integer >= 0"):
        read_fst_text(write(tmp_path, "0 y 1 0\n"), num_pdfs=3)


def test_weight_not_a_number(tmp_path):
    with pytest.raises(GraphError, match="weight 'heavy' is not a number"):
        read_fst_text(write(tmp_path, "0 1 1 0 heavy\n1\n"), num_pdfs=3)


def test_weight_nan(tmp_path):
    with pytest.raises(GraphError, match="weight is NaN"):
        read_fst_text(write(tmp_path, "0 1 1 0 nan\n1\n"), num_pdfs=3)


def test_symbolic_label_without_table(tmp_path):
    with pytest.raises(GraphError, match="input label 'AA' is not an integer and not in no "
                                         "symbol table was given"):
        read_fst_text(write(tmp_path, "0 1 AA 0\n1\n"), num_pdfs=3)


def test_negative_label(tmp_path):
    with pytest.raises(GraphError, match="output label -3 is negative"):
        read_fst_text(write(tmp_path, "0 1 1 -3\n1\n"), num_pdfs=3)


def test_ilabel_missing_from_the_map(tmp_path):
    write(tmp_path, "1 0\n", "map.txt")
    with pytest.raises(GraphError, match="input label 2 is not in the ilabel map"):
        read_fst_text(write(tmp_path, "0 1 2 0\n1\n"), num_pdfs=3,
                      ilabel_map_path=tmp_path / "map.txt")


def test_bad_ilabel_map_line(tmp_path):
    write(tmp_path, "1 zero\n", "map.txt")
    with pytest.raises(GraphError, match="expected 'label pdf'"):
        read_fst_text(write(tmp_path, "0 1 1 0\n1\n"), num_pdfs=3,
                      ilabel_map_path=tmp_path / "map.txt")


def test_output_label_missing_from_words(tmp_path):
    write(tmp_path, "<eps> 0\na 1\n", "words.txt")
    with pytest.raises(GraphError, match="output label 7 is not in"):
        read_fst_text(write(tmp_path, "0 1 1 7\n1\n"), num_pdfs=3,
                      words_path=tmp_path / "words.txt")


def test_words_without_epsilon_zero(tmp_path):
    write(tmp_path, "a 1\n", "words.txt")
    with pytest.raises(GraphError, match="id 0 must be the epsilon symbol"):
        read_fst_text(write(tmp_path, "0 1 1 1\n1\n"), num_pdfs=3,
                      words_path=tmp_path / "words.txt")


def test_bad_symbol_table_line(tmp_path):
    with pytest.raises(GraphError, match="expected 'symbol id' with id >= 0"):
        read_symbol_table(write(tmp_path, "a b c\n", "s.txt"))


def test_duplicate_symbol(tmp_path):
    with pytest.raises(GraphError, match="symbol 'a' appears twice"):
        read_symbol_table(write(tmp_path, "a 1\na 2\n", "s.txt"))


def test_shared_symbol_id(tmp_path):
    with pytest.raises(GraphError, match="two symbols share an id"):
        read_symbol_table(write(tmp_path, "a 1\nb 1\n", "s.txt"))


def test_empty_file(tmp_path):
    with pytest.raises(GraphError, match="holds no arcs and no final states"):
        read_fst_text(write(tmp_path, "\n"), num_pdfs=3)


def test_num_pdfs_must_be_positive(tmp_path):
    with pytest.raises(GraphError, match="num_pdfs must be a positive int"):
        read_fst_text(write(tmp_path, "0 1 1 0\n1\n"), num_pdfs=0)


def test_ilabel_beyond_the_pdfs_is_caught_by_validation(tmp_path):
    with pytest.raises(GraphError, match=r"arc_ilabel\[0\] = 9 is out of range"):
        read_fst_text(write(tmp_path, "0 1 9 0\n1\n"), num_pdfs=3)


def test_no_reachable_final_state_in_text(tmp_path):
    with pytest.raises(GraphError, match="no final state is reachable"):
        read_fst_text(write(tmp_path, "0 1 1 0\n2 0\n"), num_pdfs=3)
