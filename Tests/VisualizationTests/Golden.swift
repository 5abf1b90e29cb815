import Foundation

/// Golden DOT for the toy trace (checked by hand, line by line: escaping, colours, ranks, bonus, legend).
/// Regenerate only after checking the change: a diff here is a change users see.
enum Golden {
    static let step1 = #"""
digraph step_1 {
  graph [rankdir=LR, fontname="Helvetica", fontsize=11, nodesep=0.08, ranksep=0.45, bgcolor="white", pad=0.2];
  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10, margin="0.06,0.03", height=0.3];
  edge [fontname="Helvetica", fontsize=8, arrowsize=0.55, color="#8a8a8a", fontcolor="#555555"];
  graph [labelloc=t, labeljust=l, fontsize=12, label="Step 1 · medusa · greedy · tree fork-2x2 · root + 4 draft nodes verified\ltau 2: \"␣the\" \"␣king\"\lgreen bold: accepted · red: rejected · grey dashed: not reached · blue dashed: bonus (the base model's next token)\l#i node index (as in the mask) · q draft probability (head) · p base probability · edge rN: rank N among its head's guesses\l"];
  n0 [label="…{upon}␣a␣<time>\n\"␣the\"\n#0 root · p 0.900", style="rounded,filled,bold", fillcolor="#b7e4c7", color="#1b7a43", fontcolor="#0b3d20", penwidth=2.5, peripheries=2];
  n1 [label="\"␣king\"\n#1 · q 0.500 · p 0.625", style="rounded,filled,bold", fillcolor="#b7e4c7", color="#1b7a43", fontcolor="#0b3d20", penwidth=2.5];
  n2 [label="\"\\\"quoted\\\"\"\n#2 · q 0.250 · p 0.125", style="rounded,filled", fillcolor="#f9d0d4", color="#b3261e", fontcolor="#4a0f0b", penwidth=1.2];
  n3 [label="\"<tag>\"\n#3 · q 0.375 · p 1e-04", style="rounded,filled", fillcolor="#f9d0d4", color="#b3261e", fontcolor="#4a0f0b", penwidth=1.2];
  n4 [label="\"<tag>\"\n#4 · q 0.375 · p 0.500", style="rounded,filled,dashed", fillcolor="#f1f1f1", color="#9a9a9a", fontcolor="#6b6b6b", penwidth=1];
  n2 -> n4 [label="r0"];
  n1 -> n3 [label="r0"];
  n0 -> n2 [label="r1"];
  n0 -> n1 [label="r0", color="#1b7a43", penwidth=2.2, fontcolor="#1b7a43"];
  nbonus [label="bonus\n\"line\\nbreak\"\np 0.750", style="rounded,filled,dashed", fillcolor="#cfe0ff", color="#1d4ed8", fontcolor="#0b2a6f", penwidth=1.8];
  n1 -> nbonus [style=dashed, color="#1d4ed8", label="next", fontcolor="#1d4ed8"];
}

"""#

    static let step2 = #"""
digraph step_2 {
  graph [rankdir=LR, fontname="Helvetica", fontsize=11, nodesep=0.08, ranksep=0.45, bgcolor="white", pad=0.2];
  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10, margin="0.06,0.03", height=0.3];
  edge [fontname="Helvetica", fontsize=8, arrowsize=0.55, color="#8a8a8a", fontcolor="#555555"];
  graph [labelloc=t, labeljust=l, fontsize=12, label="Step 2 · medusa · greedy · tree fork-2x2 · root + 8 draft nodes verified\ltau 3: \"line\\nbreak\" \"back\\\\slash\" \"café␣☕\"\lgreen bold: accepted · red: rejected · grey dashed: not reached · blue dashed: bonus (the base model's next token)\l#i node index (as in the mask) · q draft probability (head) · p base probability · edge rN: rank N among its head's guesses\l"];
  n0 [label="…{upon}␣a␣<time>|␣the|␣king\n\"line\\nbreak\"\n#0 root · p 0.750", style="rounded,filled,bold", fillcolor="#b7e4c7", color="#1b7a43", fontcolor="#0b3d20", penwidth=2.5, peripheries=2];
  n1 [label="\"back\\\\slash\"\n#1 · q 0.500 · p 0.500", style="rounded,filled,bold", fillcolor="#b7e4c7", color="#1b7a43", fontcolor="#0b3d20", penwidth=2.5];
  n2 [label="\"\"\n#2 · q 0.125 · p 0", style="rounded,filled", fillcolor="#f9d0d4", color="#b3261e", fontcolor="#4a0f0b", penwidth=1.2];
  n3 [label="\"{brace}\"\n#3 · q 0.250 · p 0.250", style="rounded,filled", fillcolor="#f9d0d4", color="#b3261e", fontcolor="#4a0f0b", penwidth=1.2];
  n4 [label="\"café␣☕\"\n#4 · q 0.125 · p 0.500", style="rounded,filled,bold", fillcolor="#b7e4c7", color="#1b7a43", fontcolor="#0b3d20", penwidth=2.5];
  n5 [label="\"a|b\"\n#5 · q 0.500 · p 0.250", style="rounded,filled,dashed", fillcolor="#f1f1f1", color="#9a9a9a", fontcolor="#6b6b6b", penwidth=1];
  n6 [label="\"\\ttab\"\n#6 · q 0.500 · p 0.500", style="rounded,filled", fillcolor="#f9d0d4", color="#b3261e", fontcolor="#4a0f0b", penwidth=1.2];
  n7 [label="\"back\\\\slash\"\n#7 · q 0.250 · p 0.125", style="rounded,filled", fillcolor="#f9d0d4", color="#b3261e", fontcolor="#4a0f0b", penwidth=1.2];
  n8 [label="\"&amp;amp;\"\n#8 · q 0.500 · p 0.062", style="rounded,filled,dashed", fillcolor="#f1f1f1", color="#9a9a9a", fontcolor="#6b6b6b", penwidth=1];
  n5 -> n8 [label="r0"];
  n4 -> n7 [label="r1"];
  n4 -> n6 [label="r0"];
  n2 -> n5 [label="r0"];
  n1 -> n4 [label="r1", color="#1b7a43", penwidth=2.2, fontcolor="#1b7a43"];
  n1 -> n3 [label="r0"];
  n0 -> n2 [label="r1"];
  n0 -> n1 [label="r0", color="#1b7a43", penwidth=2.2, fontcolor="#1b7a43"];
  nbonus [label="bonus\n\"&amp;amp;\"\np 0.500", style="rounded,filled,dashed", fillcolor="#cfe0ff", color="#1d4ed8", fontcolor="#0b2a6f", penwidth=1.8];
  n4 -> nbonus [style=dashed, color="#1d4ed8", label="next", fontcolor="#1d4ed8"];
}

"""#
}
