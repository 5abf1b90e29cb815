import Foundation

/// Golden DOT for the toy trace (checked by hand, line by line: escaping, colours, ranks, bonus, legend).
/// Regenerate only after checking the change: a diff here is a change users see.
enum Golden {
    static let step1 = #"""
digraph step_1 {
  graph [rankdir=LR, fontname="Helvetica", fontsize=11, nodesep=0.08, ranksep=0.45, bgcolor="white", pad=0.2];
  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10, margin="0.06,0.03", height=0.3];
  edge [fontname="Helvetica", fontsize=8, arrowsize=0.55, color="#8a8a8a", fontcolor="#555555"];
  graph [labelloc=t, labeljust=l, label=<<table border="0" cellborder="0" cellspacing="2" cellpadding="2"><tr><td align="left" colspan="6"><font point-size="14"><b>Step 1 · medusa · greedy</b></font></td></tr><tr><td align="left" colspan="6">tree fork-2x2 · 5 nodes verified · tau 2: &quot;␣the&quot; &quot;␣king&quot;</td></tr><tr><td border="1" color="#1b7a43" bgcolor="#b7e4c7"><font color="#0b3d20">accepted</font></td><td border="1" color="#b3261e" bgcolor="#f9d0d4"><font color="#4a0f0b">rejected</font></td><td border="1" color="#9a9a9a" bgcolor="#f1f1f1"><font color="#6b6b6b">not reached</font></td><td border="1" color="#1d4ed8" bgcolor="#cfe0ff"><font color="#0b2a6f">bonus: base model's next token</font></td></tr><tr><td align="left" colspan="6"><font point-size="9">#i node index (as in the mask) · q = draft probability (head) · p = base probability · edge rN = rank N among its head's guesses</font></td></tr></table>>];
  n0 [label=<<font point-size="8" color="#555555">…{upon}␣a␣&lt;time&gt;</font><br/><b>&quot;␣the&quot;</b><br/><font point-size="8">#0 root · p 0.900</font>>, style="rounded,filled,bold", fillcolor="#b7e4c7", color="#1b7a43", fontcolor="#0b3d20", penwidth=2.5, peripheries=2];
  n1 [label=<<b>&quot;␣king&quot;</b><br/><font point-size="8">#1 · q 0.500 · p 0.625</font>>, style="rounded,filled,bold", fillcolor="#b7e4c7", color="#1b7a43", fontcolor="#0b3d20", penwidth=2.5];
  n2 [label=<<b>&quot;\\&quot;quoted\\&quot;&quot;</b><br/><font point-size="8">#2 · q 0.250 · p 0.125</font>>, style="rounded,filled", fillcolor="#f9d0d4", color="#b3261e", fontcolor="#4a0f0b", penwidth=1.2];
  n3 [label=<<b>&quot;&lt;tag&gt;&quot;</b><br/><font point-size="8">#3 · q 0.375 · p 1e-04</font>>, style="rounded,filled", fillcolor="#f9d0d4", color="#b3261e", fontcolor="#4a0f0b", penwidth=1.2];
  n4 [label=<<b>&quot;&lt;tag&gt;&quot;</b><br/><font point-size="8">#4 · q 0.375 · p 0.500</font>>, style="rounded,filled,dashed", fillcolor="#f1f1f1", color="#9a9a9a", fontcolor="#6b6b6b", penwidth=1];
  n2 -> n4 [label="r0"];
  n1 -> n3 [label="r0"];
  n0 -> n2 [label="r1"];
  n0 -> n1 [label="r0", color="#1b7a43", penwidth=2.2, fontcolor="#1b7a43"];
  nbonus [label=<<font point-size="8">bonus</font><br/><b>&quot;line\\nbreak&quot;</b><br/><font point-size="8">p 0.750</font>>, style="rounded,filled,dashed", fillcolor="#cfe0ff", color="#1d4ed8", fontcolor="#0b2a6f", penwidth=1.8];
  n1 -> nbonus [style=dashed, color="#1d4ed8", label="next", fontcolor="#1d4ed8"];
}

"""#

    static let step2 = #"""
digraph step_2 {
  graph [rankdir=LR, fontname="Helvetica", fontsize=11, nodesep=0.08, ranksep=0.45, bgcolor="white", pad=0.2];
  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10, margin="0.06,0.03", height=0.3];
  edge [fontname="Helvetica", fontsize=8, arrowsize=0.55, color="#8a8a8a", fontcolor="#555555"];
  graph [labelloc=t, labeljust=l, label=<<table border="0" cellborder="0" cellspacing="2" cellpadding="2"><tr><td align="left" colspan="6"><font point-size="14"><b>Step 2 · medusa · greedy</b></font></td></tr><tr><td align="left" colspan="6">tree fork-2x2 · 9 nodes verified · tau 3: &quot;line\\nbreak&quot; &quot;back\\\\slash&quot; &quot;café␣☕&quot;</td></tr><tr><td border="1" color="#1b7a43" bgcolor="#b7e4c7"><font color="#0b3d20">accepted</font></td><td border="1" color="#b3261e" bgcolor="#f9d0d4"><font color="#4a0f0b">rejected</font></td><td border="1" color="#9a9a9a" bgcolor="#f1f1f1"><font color="#6b6b6b">not reached</font></td><td border="1" color="#1d4ed8" bgcolor="#cfe0ff"><font color="#0b2a6f">bonus: base model's next token</font></td></tr><tr><td align="left" colspan="6"><font point-size="9">#i node index (as in the mask) · q = draft probability (head) · p = base probability · edge rN = rank N among its head's guesses</font></td></tr></table>>];
  n0 [label=<<font point-size="8" color="#555555">…{upon}␣a␣&lt;time&gt;|␣the|␣king</font><br/><b>&quot;line\\nbreak&quot;</b><br/><font point-size="8">#0 root · p 0.750</font>>, style="rounded,filled,bold", fillcolor="#b7e4c7", color="#1b7a43", fontcolor="#0b3d20", penwidth=2.5, peripheries=2];
  n1 [label=<<b>&quot;back\\\\slash&quot;</b><br/><font point-size="8">#1 · q 0.500 · p 0.500</font>>, style="rounded,filled,bold", fillcolor="#b7e4c7", color="#1b7a43", fontcolor="#0b3d20", penwidth=2.5];
  n2 [label=<<b>&quot;&quot;</b><br/><font point-size="8">#2 · q 0.125 · p 0</font>>, style="rounded,filled", fillcolor="#f9d0d4", color="#b3261e", fontcolor="#4a0f0b", penwidth=1.2];
  n3 [label=<<b>&quot;{brace}&quot;</b><br/><font point-size="8">#3 · q 0.250 · p 0.250</font>>, style="rounded,filled", fillcolor="#f9d0d4", color="#b3261e", fontcolor="#4a0f0b", penwidth=1.2];
  n4 [label=<<b>&quot;café␣☕&quot;</b><br/><font point-size="8">#4 · q 0.125 · p 0.500</font>>, style="rounded,filled,bold", fillcolor="#b7e4c7", color="#1b7a43", fontcolor="#0b3d20", penwidth=2.5];
  n5 [label=<<b>&quot;a|b&quot;</b><br/><font point-size="8">#5 · q 0.500 · p 0.250</font>>, style="rounded,filled,dashed", fillcolor="#f1f1f1", color="#9a9a9a", fontcolor="#6b6b6b", penwidth=1];
  n6 [label=<<b>&quot;\\ttab&quot;</b><br/><font point-size="8">#6 · q 0.500 · p 0.500</font>>, style="rounded,filled", fillcolor="#f9d0d4", color="#b3261e", fontcolor="#4a0f0b", penwidth=1.2];
  n7 [label=<<b>&quot;back\\\\slash&quot;</b><br/><font point-size="8">#7 · q 0.250 · p 0.125</font>>, style="rounded,filled", fillcolor="#f9d0d4", color="#b3261e", fontcolor="#4a0f0b", penwidth=1.2];
  n8 [label=<<b>&quot;&amp;amp;&quot;</b><br/><font point-size="8">#8 · q 0.500 · p 0.062</font>>, style="rounded,filled,dashed", fillcolor="#f1f1f1", color="#9a9a9a", fontcolor="#6b6b6b", penwidth=1];
  n5 -> n8 [label="r0"];
  n4 -> n7 [label="r1"];
  n4 -> n6 [label="r0"];
  n2 -> n5 [label="r0"];
  n1 -> n4 [label="r1", color="#1b7a43", penwidth=2.2, fontcolor="#1b7a43"];
  n1 -> n3 [label="r0"];
  n0 -> n2 [label="r1"];
  n0 -> n1 [label="r0", color="#1b7a43", penwidth=2.2, fontcolor="#1b7a43"];
  nbonus [label=<<font point-size="8">bonus</font><br/><b>&quot;&amp;amp;&quot;</b><br/><font point-size="8">p 0.500</font>>, style="rounded,filled,dashed", fillcolor="#cfe0ff", color="#1d4ed8", fontcolor="#0b2a6f", penwidth=1.8];
  n4 -> nbonus [style=dashed, color="#1d4ed8", label="next", fontcolor="#1d4ed8"];
}

"""#
}
