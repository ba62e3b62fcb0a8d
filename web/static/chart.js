// Evidence charts: readings per pixel (min and max), the limit line, excursions shaded.
(function () {
  const box = document.getElementById("charts");
  if (!box) return;
  const zone = box.dataset.zone;
  const [downsampled, kept, readingsLabel] = box.dataset.points.split("|");
  // Times in the site's zone and the page's language (24 h), not the browser's US default.
  const lang = document.documentElement.lang || "zh-CN";
  const clock = new Intl.DateTimeFormat(lang, {
    timeZone: zone, hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
  });
  // A window longer than a day needs the date on its ticks, or two days read alike.
  const dayClock = new Intl.DateTimeFormat(lang, {
    timeZone: zone, month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
  });
  const stamp = new Intl.DateTimeFormat(lang, {
    timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23",
  });
  const width = Math.max(Math.min(box.clientWidth || 800, 1400), 300);
  fetch(`/api/hazards/${box.dataset.hazard}/chart?width=${width}`, { credentials: "same-origin" })
    .then((response) => response.json())
    .then((charts) => {
      for (const data of charts) {
        const holder = document.createElement("div");
        holder.className = "chart";
        const title = document.createElement("div");
        title.textContent = `${data.device} · ${data.quantity} [${data.unit}] · ${readingsLabel} ${data.readings}` +
          ` · ${downsampled} ${data.points} ${kept}`;
        holder.appendChild(title);
        box.appendChild(holder);
        if (!data.x.length) {
          const empty = document.createElement("p");
          empty.textContent = box.dataset.empty;
          holder.appendChild(empty);
          continue;
        }
        const limit = data.x.map(() => data.limit);
        const shade = {
          hooks: {
            drawClear: [(u) => {
              const ctx = u.ctx;
              ctx.save();
              ctx.fillStyle = "rgba(220, 53, 69, 0.15)";
              for (const [a, b] of data.excursions) {
                const left = u.valToPos(a, "x", true);
                const right = Math.max(u.valToPos(b, "x", true), left + 2);
                ctx.fillRect(left, u.bbox.top, right - left, u.bbox.height);
              }
              ctx.restore();
            }],
          },
        };
        const options = {
          width: width - 20, height: 260, plugins: [shade],
          tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), zone),
          scales: { x: { time: true, range: [data.start, data.end] } },
          series: [
            { label: box.dataset.timeLabel, value: (u, ts) => (ts == null ? "--" : stamp.format(ts * 1e3)) },
            { label: box.dataset.maxLabel, stroke: "#1f4e79", width: 1.5 },
            { label: box.dataset.minLabel, stroke: "#6c9bd2", width: 1 },
            { label: box.dataset.limitLabel, stroke: "#b02a37", dash: [6, 4], width: 1.5, points: { show: false } },
          ],
          axes: [
            {
              values: (u, splits) => {
                const ticks = data.end - data.start > 86400 ? dayClock : clock;
                return splits.map((ts) => ticks.format(ts * 1e3));
              },
              space: 80,
            },
            { label: data.unit },
          ],
        };
        new uPlot(options, [data.x, data.maximum, data.minimum, limit], holder);
      }
    });
})();
