# Perplexity against cache budget, one line per policy, one panel per corpus.
# gnuplot -e "data='bench/results/MODEL_plot.dat'; out='docs/MODEL_ppl_vs_budget.svg'; corpora='pg19 web'; full='238.8 0'" bench/table1_plot.gp
# `full` lists the full-cache perplexity per corpus (drawn as a dashed line).
# Optional `zoom`: show perplexities up to zoom x the full cache's (a policy far above leaves the panel).
set terminal svg size 900,420 font "sans,11"
set output out
n = words(corpora)
set multiplot layout 1, n
set logscale x 2
set xlabel "cache budget (entries per layer and head)"
set ylabel "perplexity"
set key top right font ",9"
set grid
do for [i=1:n] {
    set title word(corpora, i)
    f = word(full, i) + 0
    if (exists("zoom")) { set yrange [f * 0.97 : f * zoom] } else { set autoscale y }
    plot data index (i - 1) using 1:2 with linespoints title "StreamingLLM", \
         '' index (i - 1) using 1:3 with linespoints title "TOVA", \
         '' index (i - 1) using 1:4 with linespoints title "H2O", \
         '' index (i - 1) using 1:5 with linespoints title "CaM", \
         '' index (i - 1) using 1:6 with linespoints title "Eviction", \
         '' index (i - 1) using 1:7 with linespoints lw 3 title "WeightedKV", \
         f with lines dashtype 2 lc rgb "black" title "full cache"
}
unset multiplot
