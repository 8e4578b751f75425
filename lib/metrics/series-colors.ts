// Colours of compared runs, distinguishable also for colour-blind readers (Okabe–Ito-like).
// A plain module: the Compare page (a server component) assigns them, the chart draws them.
export const SERIES_COLORS = ["#4338ca", "#d97706", "#059669", "#dc2626", "#0891b2", "#a21caf"];
